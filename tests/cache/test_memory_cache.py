"""The `memory` backend: bounded LRU, entries expire after their ttl."""

from __future__ import annotations

from modelmux.cache.stores import MemoryCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_an_entry_expires_after_its_ttl() -> None:
    clock = Clock()
    cache = MemoryCache(10, clock=clock)
    await cache.put("k", b"answer", 300.0)
    clock.now += 299.0
    assert await cache.fetch("k") == b"answer"
    clock.now += 1.0
    assert await cache.fetch("k") is None


async def test_the_least_recently_used_entry_goes_first() -> None:
    cache = MemoryCache(2, clock=Clock())
    await cache.put("a", b"1", 60)
    await cache.put("b", b"2", 60)
    assert await cache.fetch("a") == b"1"  # a is now more recent than b
    await cache.put("c", b"3", 60)
    assert await cache.fetch("b") is None
    assert await cache.fetch("a") == b"1"
    assert await cache.fetch("c") == b"3"
