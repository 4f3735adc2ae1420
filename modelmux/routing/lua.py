"""The `custom` strategy: a Lua script orders the candidates, run in a sandbox (lupa, Lua 5.4).

The script defines `function route(request, candidates, providers)`: `request` is a table of the
request's facts (model, requested_model, route, stream, deterministic, temperature, max_tokens, tools,
user, org, team, role, region, latency, prompt_tokens, prompt, headers, metadata), `candidates` a list
of provider names in config order, `providers` a table by name with what the runtime knows of each
(type, region, weight, in_flight, latency, ttft, error_rate, breaker). It returns the names to try, in
order; names it leaves out are not tried, unknown names are ignored.

The sandbox:
- The script runs in its own environment with only: assert error ipairs next pairs pcall select
  tonumber tostring type xpcall rawequal rawget rawlen rawset unpack, and copies of math, string,
  table and utf8. No io, os, require, package, load, loadstring, dofile, loadfile, debug, print,
  collectgarbage, coroutine, setmetatable/getmetatable (no metamethods, so no `__gc` finalizers that
  would run outside the instruction limit), no `python` bridge; source text only, never bytecode.
  `string.dump` is gone and `string.rep` refuses results over 1 MiB.
- An instruction limit (`custom.instruction_limit`, default 100,000 VM instructions per call, the
  loading of the script included): a count hook set with `debug.sethook` (captured before `debug`
  is removed) on the coroutine that runs the script. Once tripped it raises on every further
  instruction, so a script cannot `pcall` its way around it.
- A memory limit (32 MiB for the whole Lua state, lupa's `max_memory`).
- `math.random` is seeded from the router's random generator before each call: same seed, same order.
- `prompt` is cut to its first 32,768 characters. Lua patterns (`string.find`, `match`, `gsub`) run
  in C: the instruction limit does not interrupt one long pattern match; keep patterns simple.

Any error (syntax, runtime, limit, bad return value) raises `LuaScriptError`; the router then falls
back to config order and reports the error.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Mapping, Sequence
from typing import Any

DEFAULT_INSTRUCTION_LIMIT = 100_000
DEFAULT_MAX_MEMORY = 32 * 1024 * 1024
MAX_PROMPT_CHARS = 32_768
MAX_REP_BYTES = 1024 * 1024
MAX_RESULT_NAMES = 4096
_MAX_DEPTH = 8
_LUA_INT = 2**63

_HARNESS = r"""
local MAX_REP, MAX_RESULT = ...
local sethook, create, resume = debug.sethook, coroutine.create, coroutine.resume
local load, collect, randomseed = load, collectgarbage, math.randomseed
local rawget, rawlen, type, pairs, tostring = rawget, rawlen, type, pairs, tostring
local max, min = math.max, math.min

local rep = string.rep
string.rep = function(s, n, sep)
  if type(s) == "string" and type(n) == "number" and n > 0 then
    local size = #s * n + (type(sep) == "string" and #sep * (n - 1) or 0)
    if size > MAX_REP then error("string.rep: result too large", 2) end
  end
  return rep(s, n, sep)
end
string.dump = nil
getmetatable("").__metatable = false

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

local env = {
  assert = assert, error = error, ipairs = ipairs, next = next, pairs = pairs, pcall = pcall,
  select = select, tonumber = tonumber, tostring = tostring, type = type, xpcall = xpcall,
  rawequal = rawequal, rawget = rawget, rawlen = rawlen, rawset = rawset, unpack = table.unpack,
  math = copy(math), string = copy(string), table = copy(table), utf8 = copy(utf8),
}
env._G = env

for _, name in ipairs({"io", "os", "debug", "package", "require", "dofile", "loadfile", "load",
                       "loadstring", "collectgarbage", "print", "python", "coroutine"}) do
  _G[name] = nil
end

local budget, step = 0, 1000
local function hook()
  budget = budget - step
  if budget <= 0 then
    sethook(hook, "", 1)
    error("instruction limit exceeded", 0)
  end
end

local function run(limit, fn, ...)
  budget, step = limit, max(1, min(1000, limit // 10))
  local co = create(fn)
  sethook(co, hook, "", step)
  local ok, result = resume(co, ...)
  if not ok then
    collect("collect")
    if type(result) ~= "string" then result = "error of type " .. type(result) end
    return false, result
  end
  return true, result
end

local function compile(text, limit)
  local chunk, err = load(text, "=route.lua", "t", env)
  if not chunk then return false, err end
  local ok, result = run(limit, chunk)
  if not ok then return false, result end
  if type(rawget(env, "route")) ~= "function" then
    return false, "the script defines no function route(request, candidates)"
  end
  return true, nil
end

local function call(limit, seed, request, candidates, providers)
  local route = rawget(env, "route")
  if type(route) ~= "function" then return false, "`route` is no longer a function" end
  randomseed(seed)
  local ok, result = run(limit, route, request, candidates, providers)
  if not ok then return false, result end
  if type(result) ~= "table" then
    return false, "route() must return a list of provider names, not " .. type(result)
  end
  local names, n = {}, rawlen(result)
  if n > MAX_RESULT then n = MAX_RESULT end
  for i = 1, n do
    local name = rawget(result, i)
    if type(name) ~= "string" then
      return false, "route() returned a " .. type(name) .. " at position " .. tostring(i) .. ", not a name"
    end
    names[i] = name
  end
  return true, names
end

return compile, call
"""


class LuaScriptError(Exception):
    """The custom routing script failed to load or to run (the message says why)."""


def _deny_attributes(obj: object, name: object, is_setting: bool) -> object:
    raise AttributeError("Python attributes are not reachable from routing scripts")


def _lua_module() -> Any:
    try:
        return importlib.import_module("lupa.lua54")
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise LuaScriptError("custom routing needs the `lupa` package (pip install lupa)") from exc


class LuaRouter:
    """One loaded script in its own Lua state. Calls are serialized by a lock."""

    def __init__(
        self,
        script: str,
        instruction_limit: int = DEFAULT_INSTRUCTION_LIMIT,
        max_memory: int = DEFAULT_MAX_MEMORY,
    ) -> None:
        module = _lua_module()
        self._error_types: tuple[type[BaseException], ...] = (module.LuaError, MemoryError)
        self.instruction_limit = max(int(instruction_limit), 1)
        self._lock = threading.Lock()
        try:
            self._lua = module.LuaRuntime(
                register_eval=False,
                register_builtins=False,
                attribute_filter=_deny_attributes,
                max_memory=max_memory,
            )
            self._compile, self._call = self._lua.execute(_HARNESS, MAX_REP_BYTES, MAX_RESULT_NAMES)
            ok, error = self._compile(script, self.instruction_limit)
        except self._error_types as exc:
            raise LuaScriptError(f"cannot load the script: {exc}") from exc
        if not ok:
            raise LuaScriptError(str(error))

    def route(
        self,
        request: Mapping[str, object],
        candidates: Sequence[str],
        providers: Mapping[str, Mapping[str, object]] | None = None,
        seed: int = 0,
    ) -> list[str]:
        """The names the script returns, as it returns them (duplicates and unknown names included)."""
        with self._lock:
            try:
                ok, result = self._call(
                    self.instruction_limit,
                    seed % _LUA_INT,
                    self._plain(dict(request), 0),
                    self._plain(list(candidates), 0),
                    self._plain(dict(providers or {}), 0),
                )
            except self._error_types as exc:
                raise LuaScriptError(str(exc)) from exc
            if not ok:
                raise LuaScriptError(str(result))
            return [str(result[index]) for index in range(1, len(result) + 1)]

    def _plain(self, value: object, depth: int) -> Any:
        """Python data to what becomes plain Lua data: tables of strings, numbers and booleans."""
        if isinstance(value, bool | str | float):
            return value
        if isinstance(value, int):
            return value if -_LUA_INT < value < _LUA_INT else float(value)
        if depth >= _MAX_DEPTH:
            return str(value)
        if isinstance(value, Mapping):
            items = {str(k): self._plain(v, depth + 1) for k, v in value.items() if v is not None}
            return self._lua.table_from(items)
        if isinstance(value, list | tuple | set | frozenset):
            return self._lua.table_from([self._plain(v, depth + 1) for v in value if v is not None])
        return str(value)


def check_lua_script(text: str, instruction_limit: int = DEFAULT_INSTRUCTION_LIMIT) -> str | None:
    """None when the script loads and defines `route`, else the error message (for the compiler)."""
    try:
        LuaRouter(text, instruction_limit)
    except LuaScriptError as exc:
        return str(exc)
    return None
