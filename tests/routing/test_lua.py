from __future__ import annotations

import pytest

from modelmux.routing import NOT_CHOSEN, LuaRouter, LuaScriptError, check_lua_script
from tests.routing.support import Harness, compile_plan, mock_providers, with_routing

REVERSE = """
function route(request, candidates)
  local out = {}
  for i = #candidates, 1, -1 do out[#out + 1] = candidates[i] end
  return out
end
"""


def _harness(script: str, limit: int = 100_000, seed: int = 7) -> Harness:
    plan = compile_plan(mock_providers("a", "b", "c"))
    return Harness(
        with_routing(plan, strategy="custom", custom_script=script, custom_instruction_limit=limit), seed=seed
    )


def test_script_orders_candidates() -> None:
    h = _harness(REVERSE)
    decision = h.decide()
    assert [p.name for p in decision.candidates] == ["c", "b", "a"]
    assert decision.strategy == "custom"
    assert decision.notes == ()


def test_script_reads_request_facts_and_provider_info() -> None:
    script = """
    function route(request, candidates, providers)
      if request.metadata.tier == "gold" and request.stream and request.headers["x-team"] == "ml" then
        return {"b"}
      end
      local best, best_load = nil, math.huge
      for _, name in ipairs(candidates) do
        if providers[name].in_flight < best_load then best, best_load = name, providers[name].in_flight end
      end
      return {best}
    end
    """
    h = _harness(script)
    decision = h.decide(stream=True, metadata={"tier": "gold"}, headers={"x-team": "ml"})
    assert [p.name for p in decision.candidates] == ["b"]
    assert ("a", NOT_CHOSEN) in decision.excluded and ("c", NOT_CHOSEN) in decision.excluded
    h.provider("a").on_start()
    assert [p.name for p in h.decide().candidates] == ["b"]


def test_unknown_and_duplicate_names_are_ignored() -> None:
    h = _harness('function route(r, c) return {"zzz", "b", "b", "a"} end')
    decision = h.decide()
    assert [p.name for p in decision.candidates] == ["b", "a"]
    assert any("'zzz'" in note for note in decision.notes)


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ('function route(r, c) error("nope") end', "nope"),
        ("function route(r, c) return 42 end", "must return a list"),
        ("function route(r, c) return {1, 2} end", "not a name"),
        ("function route(r, c) while true do end end", "instruction limit exceeded"),
        (
            "function route(r, c) while true do pcall(function() while true do end end) end end",
            "instruction limit exceeded",
        ),
        ('function route(r, c) os.execute("touch /tmp/pwned") end', "os"),
        ('function route(r, c) io.open("/etc/passwd") end', "io"),
        ('function route(r, c) require("os") end', "require"),
        ('function route(r, c) load("return 1")() end', "load"),
        ('function route(r, c) dofile("/etc/passwd") end', "dofile"),
        ("function route(r, c) debug.sethook() end", "debug"),
        ("function route(r, c) string.dump(route) end", "dump"),
        (
            "function route(r, c) setmetatable({}, {__gc = function() while true do end end}) end",
            "setmetatable",
        ),
        ("function route(r, c) return python.builtins end", "python"),
        ('function route(r, c) local s = string.rep("x", 1e9) end', "too large"),
        ('function route(r, c) local s = ("x"):rep(2^40) end', "too large"),
        ('function route(r, c) local t = {} for i = 1, 1e7 do t[i] = ("x"):rep(1e6) end end', ""),
        ('function route(r, c) local s = "x" while true do s = s .. s end end', ""),
        ("function route(r, c) return route(r, c) end", "instruction limit exceeded"),
        ("function route(r, c) return 1 + route(r, c) end", "instruction limit exceeded"),
    ],
)
def test_failures_fall_back_to_config_order(script: str, message: str) -> None:
    h = _harness(script)
    decision = h.decide()
    assert [p.name for p in decision.candidates] == ["a", "b", "c"]
    assert len(decision.notes) == 1
    assert decision.notes[0].startswith("custom script failed")
    assert message in decision.notes[0]


def test_runtime_is_usable_after_a_trip() -> None:
    script = """
    calls = 0
    function route(request, candidates)
      calls = calls + 1
      if request.metadata.spin then while true do end end
      return {candidates[#candidates]}
    end
    """
    h = _harness(script)
    assert [p.name for p in h.decide(metadata={"spin": True}).candidates] == ["a", "b", "c"]
    assert [p.name for p in h.decide().candidates] == ["c"]


def test_instruction_limit_is_per_call() -> None:
    script = """
    function route(request, candidates)
      local n = 0
      for i = 1, 2000 do n = n + i end
      return candidates
    end
    """
    h = _harness(script, limit=20_000)
    for _ in range(50):  # 50 calls of ~8000 instructions each: well over 20,000 in total
        decision = h.decide()
        assert decision.notes == ()


def test_math_random_is_seeded_by_the_router() -> None:
    script = """
    function route(request, candidates)
      local out = {}
      for _, name in ipairs(candidates) do table.insert(out, math.random(#out + 1), name) end
      return out
    end
    """
    first = [_harness(script, seed=5).names() for _ in range(3)]
    again = [_harness(script, seed=5).names() for _ in range(3)]
    assert first == again
    h = _harness(script, seed=5)
    orders = {tuple(h.names()) for _ in range(30)}
    assert len(orders) > 1


def test_a_script_that_does_not_load_falls_back() -> None:
    h = _harness("function route(")
    decision = h.decide()
    assert [p.name for p in decision.candidates] == ["a", "b", "c"]
    assert "route.lua:1" in decision.notes[0]


def test_check_lua_script() -> None:
    assert check_lua_script(REVERSE) is None
    syntax = check_lua_script("function route(")
    assert syntax is not None and "route.lua:1" in syntax
    assert check_lua_script("x = 1") == "the script defines no function route(request, candidates)"
    assert check_lua_script("while true do end") == "instruction limit exceeded"
    assert "binary" in (check_lua_script("\x1bLua") or "")
    assert check_lua_script("os.exit(1) function route() end") is not None


def test_lua_router_directly() -> None:
    router = LuaRouter(REVERSE, instruction_limit=10_000)
    assert router.route({"model": "m", "nested": {"deep": [1, 2, None]}}, ["x", "y"]) == ["y", "x"]
    with pytest.raises(LuaScriptError):
        LuaRouter("function route(")


def test_python_objects_never_reach_lua() -> None:
    script = """
    function route(request, candidates)
      assert(type(request.metadata.obj) == "string", type(request.metadata.obj))
      assert(type(request.metadata.big) == "number")
      return candidates
    end
    """
    h = _harness(script)
    decision = h.decide(metadata={"obj": object(), "big": 2**80})
    assert decision.notes == ()


def test_failures_are_logged_once_per_message(caplog: pytest.LogCaptureFixture) -> None:
    h = _harness('function route(r, c) error("always") end')
    with caplog.at_level("WARNING", logger="modelmux.routing"):
        for _ in range(3):
            assert h.decide().notes
    assert len([r for r in caplog.records if "always" in r.getMessage()]) == 1


def test_script_choosing_nothing_is_not_unavailability() -> None:
    h = _harness("function route(r, c) return {} end")
    for _ in range(5):
        h.provider("a").on_start()
        h.provider("a").on_failure("status_5xx")
    decision = h.decide()
    assert decision.candidates == ()
    assert not decision.unavailable
    assert ("b", NOT_CHOSEN) in decision.excluded
