"""State that outlives a request and, with Redis, is shared by every replica: rate-limit buckets,
concurrency slots, budget counters, cached responses and circuit-breaker state.

`MemoryStore` is the embedded default (one process); `RedisStore` (modelmux.runtime.stores.redis) has
the same protocol, with atomic Lua scripts, for a fleet.
"""

from modelmux.runtime.stores.base import StateStore
from modelmux.runtime.stores.memory import MemoryStore

__all__ = ["MemoryStore", "StateStore"]
