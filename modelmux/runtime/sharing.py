"""What one serving process shares with the other replicas through Redis (the `redis:` section).

- The state store: `Sharing.adopt(plan)` gives `Services` the `RedisStore` of the plan's `redis:`
  settings (a new one when they change on reload; the old one is closed after the swap).
- Circuit breakers: every `sync_interval` (250ms) and at once when a local breaker opens, one Lua
  script publishes "provider X open for N more seconds" for each breaker this process opened itself
  (a key that expires when the cooldown ends) and reads what the other replicas published; a remote
  verdict that lasts longer than the local one opens the local breaker until then (`force_open`).
  Durations are relative to the Redis server's clock, so replicas' clocks need not agree.
- Outbound provider rate limits (`rate_limit: {rpm, tpm}`): the same script keeps a heartbeat of the
  live replicas; each process enforces its share of every limit (`rpm / replicas`, the remainder to the
  first replicas by id) locally, so the fleet together stays within it with no Redis call per request.
  A replica that stops beating drops out after `max(8 * sync_interval, 2s)` and the others take its share.

While Redis does not answer, each process keeps its last known share and its own breakers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from modelmux.plan.models import Plan
from modelmux.routing import RuntimeState
from modelmux.runtime.holder import PlanHolder
from modelmux.runtime.stores.base import StoreUnavailable

if TYPE_CHECKING:
    from modelmux.runtime.stores.redis import RedisStore

log = logging.getLogger("modelmux.sharing")
REMOTE_MARGIN = 0.05  # seconds a remote verdict must outlast the local breaker to be applied

# KEYS[1] the replicas (sorted set scored by expiry), KEYS[2..] one breaker key per provider.
# ARGV[1] this replica's id, ARGV[2] heartbeat ttl (s), ARGV[3..] per provider: seconds this replica's
# own open breaker stays open, or -1. Returns {live replica ids, seconds each breaker is open fleet-wide or -1}.
SYNC = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(ttl * 2000))
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
local open = {}
for i = 2, #KEYS do
  local open_for = tonumber(ARGV[i + 1])
  local ends = tonumber(redis.call('GET', KEYS[i]))
  if open_for > 0 and (ends == nil or ends < now + open_for) then
    ends = now + open_for
    redis.call('SET', KEYS[i], string.format('%.17g', ends), 'PX', math.ceil(open_for * 1000))
  end
  local left = -1
  if ends ~= nil and ends > now then left = ends - now end
  open[#open + 1] = string.format('%.17g', left)
end
return {members, open}
"""


class Sharing:
    def __init__(self, state: RuntimeState, *, clock: Callable[[], float] | None = None) -> None:
        self.state = state
        self.clock = clock or state.clock
        self.replica = uuid.uuid4().hex
        self.store: RedisStore | None = None
        self.replicas: tuple[str, ...] = ()
        self.rounds = 0
        self._retired: list[RedisStore] = []
        self._scripts: dict[int, Any] = {}
        self._forced: dict[str, float] = {}  # provider -> the open-until this process took from Redis
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def adopt(self, plan: Plan) -> RedisStore | None:
        """The store for `plan`: the current one while its settings stay, else a new one (or None)."""
        settings = plan.redis
        if self.store is not None and (settings is None or self.store.settings != settings):
            self._retired.append(self.store)
            self._scripts.pop(id(self.store), None)
            self.store = None
        if settings is not None and self.store is None:
            from modelmux.runtime.stores.redis import RedisStore

            self.store = RedisStore(settings)
        if self.store is None:
            for provider in plan.providers:
                self.state.provider(provider).share_limits(0, 1)
        return self.store

    async def start(self, holder: PlanHolder) -> None:
        """One round now (so this replica is known before it serves), then one every `sync_interval`."""
        plan = holder.plan
        if plan is not None:
            await self.sync_once(plan)
        self._task = asyncio.create_task(self._run(holder), name="modelmux-sharing")

    async def sync_once(self, plan: Plan) -> bool:
        """Heartbeat, publish local breakers, apply remote ones, split the limits; False while Redis is down."""
        store = self.store
        if store is None or plan.redis is None:
            return False
        now = self.clock()
        providers = plan.providers
        open_for = [self._own_open_for(plan, index, now) for index in range(len(providers))]
        keys = [store.key("replicas"), *(store.key(f"breaker:{p.name}") for p in providers)]
        ttl = max(8 * plan.redis.sync_interval, 2.0)
        args = [self.replica, repr(ttl), *(repr(x) for x in open_for)]
        script = self._script(store)
        try:
            members, remote = await store.call("sync", lambda: script(keys=keys, args=args))
        except StoreUnavailable:
            return False
        self.replicas = tuple(sorted(_text(m) for m in members))
        self._apply(plan, [float(_text(x)) for x in remote], self.clock())
        self.rounds += 1
        return True

    def _own_open_for(self, plan: Plan, index: int, now: float) -> float:
        provider = plan.providers[index]
        breaker = self.state.provider(provider).breaker
        if breaker.on_open is None:
            breaker.on_open = self._wake.set
        until = breaker.open_until(now)
        forced = self._forced.get(provider.name)
        if until is None or (forced is not None and abs(until - forced) < 1e-6):
            return -1.0
        return until - now

    def _apply(self, plan: Plan, remote: list[float], now: float) -> None:
        part = self.replicas.index(self.replica) if self.replica in self.replicas else 0
        parts = max(len(self.replicas), 1)
        for provider, left in zip(plan.providers, remote, strict=True):
            state = self.state.provider(provider)
            state.share_limits(part, parts)
            if left <= 0:
                continue
            local = state.breaker.open_until(now)
            until = now + left
            if (local is None or until > local + REMOTE_MARGIN) and state.breaker.force_open(now, until):
                self._forced[provider.name] = until
                log.info("provider %s: circuit opened by another replica for %.1fs", provider.name, left)

    def _script(self, store: RedisStore) -> Any:
        found = self._scripts.get(id(store))
        if found is None:
            found = self._scripts[id(store)] = store.client.register_script(SYNC)
        return found

    async def _run(self, holder: PlanHolder) -> None:
        while not self._stop.is_set():
            plan = holder.plan
            interval = plan.redis.sync_interval if plan is not None and plan.redis is not None else 1.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            plan = holder.plan
            if plan is not None:
                try:
                    await self.sync_once(plan)
                except Exception:  # the sync must outlive any surprise; the next round tries again
                    log.exception("sharing state with the other replicas failed")

    async def close_retired(self) -> None:
        retired, self._retired = self._retired, []
        for store in retired:
            await store.aclose()

    async def aclose(self) -> None:
        """Stop syncing and leave the fleet (the others take this replica's share at once)."""
        self._stop.set()
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.store is not None:
            store = self.store
            with contextlib.suppress(StoreUnavailable):
                await store.call("leave", lambda: store.client.zrem(store.key("replicas"), self.replica))
        await self.close_retired()

    def snapshot(self) -> dict[str, object]:
        return {
            "replica": self.replica,
            "replicas": len(self.replicas),
            "redis": self.store.health.snapshot() if self.store is not None else None,
        }


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
