"""The in-process state store: exact, fast, and private to one process."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable


class MemoryStore:
    """Implements `StateStore` with dicts. `max_entries` bounds the byte entries (LRU eviction)."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, max_entries: int = 100_000) -> None:
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, updated_at)
        self._counters: dict[str, tuple[float, float]] = {}  # key -> (value, expires_at)
        self._slots: dict[str, int] = {}
        self._bytes: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
        self._max_entries = max_entries

    async def take_tokens(self, key: str, capacity: float, refill_per_second: float, amount: float) -> float:
        now = self._clock()
        tokens, updated = self._buckets.get(key, (capacity, now))
        tokens = min(capacity, tokens + (now - updated) * refill_per_second)
        if tokens >= amount or tokens >= capacity:
            self._buckets[key] = (tokens - amount, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        if refill_per_second <= 0:
            return float("inf")
        return (min(amount, capacity) - tokens) / refill_per_second

    async def return_tokens(self, key: str, capacity: float, amount: float) -> None:
        now = self._clock()
        tokens, updated = self._buckets.get(key, (capacity, now))
        self._buckets[key] = (min(capacity, tokens + amount), updated)

    async def add(self, key: str, amount: float, ttl: float) -> float:
        now = self._clock()
        value, expires = self._counters.get(key, (0.0, now + ttl))
        if expires <= now:
            value, expires = 0.0, now + ttl
        value += amount
        self._counters[key] = (value, expires)
        return value

    async def get_number(self, key: str) -> float:
        value, expires = self._counters.get(key, (0.0, float("inf")))
        return value if expires > self._clock() else 0.0

    async def acquire_slot(self, key: str, limit: int, ttl: float) -> bool:
        taken = self._slots.get(key, 0)
        if taken >= limit:
            return False
        self._slots[key] = taken + 1
        return True

    async def release_slot(self, key: str) -> None:
        taken = self._slots.get(key, 0)
        if taken <= 1:
            self._slots.pop(key, None)
        else:
            self._slots[key] = taken - 1

    async def get_bytes(self, key: str) -> bytes | None:
        found = self._bytes.get(key)
        if found is None:
            return None
        value, expires = found
        if expires <= self._clock():
            del self._bytes[key]
            return None
        self._bytes.move_to_end(key)
        return value

    async def set_bytes(self, key: str, value: bytes, ttl: float) -> None:
        self._bytes[key] = (value, self._clock() + ttl)
        self._bytes.move_to_end(key)
        while len(self._bytes) > self._max_entries:
            self._bytes.popitem(last=False)

    async def delete(self, key: str) -> None:
        self._bytes.pop(key, None)
        self._counters.pop(key, None)

    async def aclose(self) -> None:
        return None
