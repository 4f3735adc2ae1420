"""The state store a fleet shares: the `StateStore` protocol on Redis, one atomic Lua script per
operation that reads and writes, time from the Redis server (so replicas never disagree on it).

Every call has a deadline (`timeout`, plus `connect_timeout` while a connection opens) and none
raises to its caller. While Redis does not answer, token buckets, counters and slots fall back to a
process-local `MemoryStore` (limits and budgets then hold per replica, not fleet-wide), byte reads
miss and byte writes are dropped. `fetch` and `put` are the raising variants (`StoreUnavailable`)
for the response cache, which reports an outage as `cache: error`. `RedisHealth` writes one log line
when an outage begins and one when it ends, and after a failure skips Redis for `retry_interval`, so
an outage costs requests no timeouts.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from redis.asyncio import BlockingConnectionPool, Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from modelmux.plan.models import RedisPlan
from modelmux.runtime.stores.base import StoreUnavailable
from modelmux.runtime.stores.memory import MemoryStore

log = logging.getLogger("modelmux.redis")
T = TypeVar("T")
RETRY_INTERVAL = 1.0  # seconds Redis is left alone after a failed call

# KEYS[1] bucket; ARGV capacity, refill per second, amount. Returns the wait in seconds ("-1": never).
TAKE_TOKENS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local capacity, rate, amount = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local held = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(held[1]), tonumber(held[2])
if tokens == nil or at == nil then tokens, at = capacity, now end
tokens = math.min(capacity, tokens + math.max(now - at, 0) * rate)
local wait = 0
if tokens >= amount or tokens >= capacity then
  tokens = tokens - amount
elseif rate <= 0 then
  wait = -1
else
  wait = (math.min(amount, capacity) - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'at', string.format('%.17g', now))
local ttl = 86400000
if rate > 0 then ttl = math.ceil((capacity - tokens) / rate * 1000) + 1000 end
redis.call('PEXPIRE', KEYS[1], ttl)
return string.format('%.17g', wait)
"""

# KEYS[1] bucket; ARGV capacity, amount. An absent bucket is full: nothing to return to it.
RETURN_TOKENS = """
local tokens = tonumber(redis.call('HGET', KEYS[1], 'tokens'))
if tokens == nil then return 0 end
tokens = math.min(tonumber(ARGV[1]), tokens + tonumber(ARGV[2]))
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens))
return 1
"""

# KEYS[1] counter; ARGV amount, ttl in ms. The time to live is set when the counter is created.
ADD = """
local value = redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return value
"""

# KEYS[1] sorted set of slots scored by expiry; ARGV limit, ttl in seconds, a unique member.
ACQUIRE_SLOT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2]) * 1000) + 1000)
return 1
"""

# KEYS[1] as above: drop expired slots, then free the newest (a lost slot expires on its own).
RELEASE_SLOT = """
local t = redis.call('TIME')
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(t[1]) + tonumber(t[2]) / 1000000)
redis.call('ZPOPMAX', KEYS[1])
return 1
"""


class RedisHealth:
    """Whether Redis answers: one log line per outage, and a pause after each failure."""

    def __init__(
        self, where: str, *, retry_interval: float = RETRY_INTERVAL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.where = where
        self.retry_interval = retry_interval
        self.errors = 0
        self.outages = 0
        self.down_since: float | None = None
        self._clock = clock
        self._retry_at = 0.0

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def usable(self) -> bool:
        """False while the pause after a failure lasts; then one call may try again."""
        return self.down_since is None or self._clock() >= self._retry_at

    def failed(self, exc: BaseException) -> None:
        now = self._clock()
        self.errors += 1
        self._retry_at = now + self.retry_interval
        if self.down_since is None:
            self.down_since = now
            self.outages += 1
            log.warning(
                "redis at %s is unavailable (%s); shared state is per replica and the response cache is off "
                "until it answers",
                self.where,
                type(exc).__name__,
            )

    def recovered(self) -> None:
        if self.down_since is not None:
            log.warning("redis at %s answers again after %.1fs", self.where, self._clock() - self.down_since)
            self.down_since = None

    def snapshot(self) -> dict[str, object]:
        return {"where": self.where, "down": self.down, "errors": self.errors, "outages": self.outages}


def connect(settings: RedisPlan) -> Redis:
    """A client on a bounded pool; no retries (the caller degrades instead), short timeouts."""
    url = settings.url.reveal()
    if settings.tls and url.startswith("redis://"):
        url = "rediss://" + url[len("redis://") :]
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=settings.pool_size,
        timeout=settings.timeout,
        socket_timeout=settings.timeout,
        socket_connect_timeout=settings.connect_timeout,
        retry=Retry(NoBackoff(), 0),
        client_name="modelmux",
    )
    return Redis.from_pool(pool)


class RedisStore:
    """`StateStore` on Redis. `key_prefix` (default: the settings') starts every key."""

    def __init__(
        self,
        settings: RedisPlan,
        *,
        key_prefix: str | None = None,
        client: Redis | None = None,
        fallback: MemoryStore | None = None,
        health: RedisHealth | None = None,
    ) -> None:
        self.settings = settings
        self.prefix = settings.key_prefix if key_prefix is None else key_prefix
        self.health = health or RedisHealth(str(settings.url))
        self._owns_client = client is None
        self.client = client or connect(settings)
        self._fallback = fallback or MemoryStore()
        self._deadline = settings.timeout + settings.connect_timeout
        self._take = self.client.register_script(TAKE_TOKENS)
        self._return = self.client.register_script(RETURN_TOKENS)
        self._add = self.client.register_script(ADD)
        self._acquire = self.client.register_script(ACQUIRE_SLOT)
        self._release = self.client.register_script(RELEASE_SLOT)

    def key(self, key: str) -> str:
        return self.prefix + key

    def view(self, key_prefix: str) -> RedisStore:
        """The same connections, health and fallback under another key prefix (closing it closes nothing)."""
        return RedisStore(
            self.settings, key_prefix=key_prefix, client=self.client, fallback=self._fallback, health=self.health
        )

    async def call(self, operation: str, run: Callable[[], Awaitable[T]]) -> T:
        """Run one Redis call under the deadline; `StoreUnavailable` when Redis does not answer."""
        if not self.health.usable():
            raise StoreUnavailable(f"redis {operation}: unavailable (retrying shortly)")
        try:
            async with asyncio.timeout(self._deadline):
                result = await run()
        except (RedisError, OSError, TimeoutError) as exc:
            self.health.failed(exc)
            raise StoreUnavailable(f"redis {operation}: {type(exc).__name__}") from exc
        self.health.recovered()
        return result

    async def take_tokens(self, key: str, capacity: float, refill_per_second: float, amount: float) -> float:
        args = [repr(float(capacity)), repr(float(refill_per_second)), repr(float(amount))]
        try:
            wait = await self.call("take_tokens", lambda: self._take(keys=[self.key(key)], args=args))
        except StoreUnavailable:
            return await self._fallback.take_tokens(key, capacity, refill_per_second, amount)
        seconds = float(_text(wait))
        return float("inf") if seconds < 0 else seconds

    async def return_tokens(self, key: str, capacity: float, amount: float) -> None:
        args = [repr(float(capacity)), repr(float(amount))]
        try:
            await self.call("return_tokens", lambda: self._return(keys=[self.key(key)], args=args))
        except StoreUnavailable:
            await self._fallback.return_tokens(key, capacity, amount)

    async def add(self, key: str, amount: float, ttl: float) -> float:
        args = [repr(float(amount)), str(_millis(ttl))]
        try:
            value = await self.call("add", lambda: self._add(keys=[self.key(key)], args=args))
        except StoreUnavailable:
            return await self._fallback.add(key, amount, ttl)
        return float(_text(value))

    async def get_number(self, key: str) -> float:
        try:
            value = await self.call("get", lambda: self.client.get(self.key(key)))
        except StoreUnavailable:
            return await self._fallback.get_number(key)
        return float(_text(value)) if value is not None else 0.0

    async def acquire_slot(self, key: str, limit: int, ttl: float) -> bool:
        args = [str(int(limit)), repr(float(ttl)), uuid.uuid4().hex]
        try:
            granted = await self.call("acquire_slot", lambda: self._acquire(keys=[self.key(key)], args=args))
        except StoreUnavailable:
            return await self._fallback.acquire_slot(key, limit, ttl)
        return bool(int(granted))

    async def release_slot(self, key: str) -> None:
        try:
            await self.call("release_slot", lambda: self._release(keys=[self.key(key)], args=[]))
        except StoreUnavailable:
            await self._fallback.release_slot(key)

    async def fetch(self, key: str) -> bytes | None:
        """`get_bytes` that raises `StoreUnavailable` instead of missing."""
        value = await self.call("get", lambda: self.client.get(self.key(key)))
        if value is None:
            return None
        return value if isinstance(value, bytes) else str(value).encode()

    async def put(self, key: str, value: bytes, ttl: float) -> None:
        """`set_bytes` that raises `StoreUnavailable` instead of dropping the write."""
        await self.call("set", lambda: self.client.set(self.key(key), value, px=_millis(ttl)))

    async def get_bytes(self, key: str) -> bytes | None:
        try:
            return await self.fetch(key)
        except StoreUnavailable:
            return None

    async def set_bytes(self, key: str, value: bytes, ttl: float) -> None:
        try:
            await self.put(key, value, ttl)
        except StoreUnavailable:
            return

    async def delete(self, key: str) -> None:
        await self._fallback.delete(key)
        try:
            await self.call("delete", lambda: self.client.delete(self.key(key)))
        except StoreUnavailable:
            return

    async def ping(self) -> bool:
        try:
            return bool(await self.call("ping", self.client.ping))
        except StoreUnavailable:
            return False

    async def aclose(self) -> None:
        if self._owns_client:
            await self.client.aclose()
            await self._fallback.aclose()


def _millis(seconds: float) -> int:
    return max(int(seconds * 1000), 1)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
