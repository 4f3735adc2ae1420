"""Where cached answers live, kept across plan reloads while their settings stay the same.

- `memory` (the default): an LRU of at most `max_entries` entries in this process, each expiring
  after the ttl (`MemoryStore`'s byte entries).
- `redis`: the shared `RedisStore` under `caching.key_prefix` when the cache's url is the `redis:`
  section's (one connection pool), else a store of its own with the `redis:` section's timeouts.

`fetch` and `put` raise `StoreUnavailable` when Redis does not answer in time: the cache then serves
the request uncached (`cache: error`) instead of failing it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from modelmux.cache.single_flight import SingleFlight
from modelmux.plan.models import CachingPlan, RedisPlan, Secret
from modelmux.runtime.stores import MemoryStore, StateStore

if TYPE_CHECKING:
    from modelmux.runtime.stores.redis import RedisStore

DEFAULT_URL = "redis://127.0.0.1:6379/0"


class CacheBackend(Protocol):
    async def fetch(self, key: str) -> bytes | None: ...

    async def put(self, key: str, value: bytes, ttl: float) -> None: ...


class MemoryCache:
    """The `memory` backend: LRU bounded by `max_entries`, entries expire after their ttl."""

    def __init__(self, max_entries: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_entries = max_entries
        self._store = MemoryStore(clock=clock, max_entries=max_entries)

    async def fetch(self, key: str) -> bytes | None:
        return await self._store.get_bytes(key)

    async def put(self, key: str, value: bytes, ttl: float) -> None:
        await self._store.set_bytes(key, value, ttl)


class CacheStores:
    """The cache's stores and in-flight misses of one process (held by `Services`)."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.flights = SingleFlight()
        self._clock = clock
        self._memory: MemoryCache | None = None
        self._redis: RedisStore | None = None
        self._retired: list[RedisStore] = []

    def backend(self, caching: CachingPlan, shared: StateStore, redis: RedisPlan | None) -> CacheBackend:
        if caching.backend == "memory":
            if self._memory is None or self._memory.max_entries != caching.max_entries:
                self._memory = MemoryCache(caching.max_entries, clock=self._clock)
            return self._memory
        url = caching.url or Secret(DEFAULT_URL, DEFAULT_URL)
        from modelmux.runtime.stores.redis import RedisStore

        if isinstance(shared, RedisStore) and shared.settings.url.reveal() == url.reveal():
            return shared.view(caching.key_prefix)
        settings = RedisPlan(url=url, key_prefix=caching.key_prefix)
        if redis is not None:
            settings = RedisPlan(
                url, redis.pool_size, redis.connect_timeout, redis.timeout, redis.tls, caching.key_prefix
            )
        if self._redis is None or self._redis.settings != settings:
            if self._redis is not None:
                self._retired.append(self._redis)
            self._redis = RedisStore(settings)
        return self._redis

    async def aclose(self) -> None:
        stores = [*self._retired, *([self._redis] if self._redis is not None else [])]
        self._retired, self._redis, self._memory = [], None, None
        for store in stores:
            await store.aclose()
