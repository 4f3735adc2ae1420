"""RedisStore keeps the StateStore protocol, atomically, and never fails its caller when Redis is down."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from modelmux.plan.models import RedisPlan, Secret
from modelmux.runtime.stores import MemoryStore, StateStore
from modelmux.runtime.stores.redis import RedisStore, StoreUnavailable
from tests.stores.redis_server import RedisServer, start_redis


def settings(url: str, **overrides: object) -> RedisPlan:
    return RedisPlan(Secret(url, url), **overrides)  # type: ignore[arg-type]


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest, redis_url: str) -> AsyncIterator[StateStore]:
    """The protocol's two implementations: everything below holds for both."""
    found: StateStore = MemoryStore() if request.param == "memory" else RedisStore(settings(redis_url))
    yield found
    await found.aclose()


async def test_a_bucket_grants_its_capacity_then_says_how_long_to_wait(store: StateStore) -> None:
    granted = [await store.take_tokens("b", 3, 1.0, 1) for _ in range(3)]
    assert granted == [0.0, 0.0, 0.0]
    wait = await store.take_tokens("b", 3, 1.0, 1)
    assert 0.9 < wait <= 1.0


async def test_a_full_bucket_grants_more_than_it_holds(store: StateStore) -> None:
    assert await store.take_tokens("big", 10, 1.0, 25) == 0.0
    assert await store.take_tokens("big", 10, 1.0, 1) > 10


async def test_a_bucket_that_never_refills_waits_forever(store: StateStore) -> None:
    assert await store.take_tokens("once", 1, 0.0, 1) == 0.0
    assert await store.take_tokens("once", 1, 0.0, 1) == float("inf")


async def test_returned_tokens_can_be_taken_again_never_above_capacity(store: StateStore) -> None:
    await store.take_tokens("r", 2, 0.0, 2)
    await store.return_tokens("r", 2, 5)
    assert [await store.take_tokens("r", 2, 0.0, 1) for _ in range(3)] == [0.0, 0.0, float("inf")]


async def test_counters_add_and_read(store: StateStore) -> None:
    assert await store.get_number("c") == 0.0
    assert await store.add("c", 1.25, 60) == 1.25
    assert await store.add("c", 2, 60) == 3.25
    assert await store.get_number("c") == 3.25


async def test_slots_are_limited_and_released(store: StateStore) -> None:
    assert [await store.acquire_slot("s", 2, 60) for _ in range(3)] == [True, True, False]
    await store.release_slot("s")
    assert await store.acquire_slot("s", 2, 60)
    assert not await store.acquire_slot("s", 2, 60)


async def test_bytes_are_kept_for_their_ttl_and_deleted(store: StateStore) -> None:
    assert await store.get_bytes("k") is None
    await store.set_bytes("k", b"\x00value", 60)
    assert await store.get_bytes("k") == b"\x00value"
    await store.delete("k")
    assert await store.get_bytes("k") is None


async def test_a_bucket_shared_by_many_callers_grants_exactly_its_capacity(redis_url: str) -> None:
    stores = [RedisStore(settings(redis_url)) for _ in range(3)]
    try:
        waits = await asyncio.gather(*(stores[i % 3].take_tokens("shared", 10, 0.001, 1) for i in range(60)))
        assert sum(1 for w in waits if w == 0.0) == 10
        granted = await asyncio.gather(*(stores[i % 3].acquire_slot("slots", 4, 60) for i in range(20)))
        assert sum(granted) == 4
    finally:
        for one in stores:
            await one.aclose()


async def test_keys_carry_the_prefix_and_expire(redis_url: str, redis_server: RedisServer) -> None:
    store = RedisStore(settings(redis_url, key_prefix="fleet-a:"))
    try:
        await store.set_bytes("k", b"v", 30)
        await store.add("n", 1, 60)
        await store.take_tokens("b", 5, 1.0, 1)
        await store.acquire_slot("s", 1, 60)
        with redis_server.client() as client:
            assert sorted(k.decode() for k in client.keys("*")) == ["fleet-a:b", "fleet-a:k", "fleet-a:n", "fleet-a:s"]
            assert 0 < client.pttl("fleet-a:k") <= 30_000
            assert all(client.pttl(key) > 0 for key in ("fleet-a:b", "fleet-a:n", "fleet-a:s"))
        other = store.view("fleet-b:")
        assert await other.get_bytes("k") is None
        await other.aclose()  # a view closes nothing: the store still answers
        assert await store.get_bytes("k") == b"v"
    finally:
        await store.aclose()


async def test_a_redis_outage_degrades_to_local_state_with_one_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = start_redis(tmp_path / "redis")
    store = RedisStore(settings(server.url, timeout=1.0, connect_timeout=1.0))
    try:
        await store.set_bytes("k", b"v", 60)
        assert await store.get_bytes("k") == b"v"
        server.kill()
        with caplog.at_level(logging.WARNING, logger="modelmux.redis"):
            assert await store.get_bytes("k") is None
            await store.set_bytes("k", b"w", 60)
            assert [await store.take_tokens("b", 2, 0.0, 1) for _ in range(3)] == [0.0, 0.0, float("inf")]
            assert await store.add("c", 2, 60) == 2.0
            assert await store.acquire_slot("s", 1, 60)
            await store.release_slot("s")
            with pytest.raises(StoreUnavailable):
                await store.fetch("k")
        assert store.health.down and store.health.outages == 1
        lines = [r.getMessage() for r in caplog.records if r.name == "modelmux.redis"]
        assert len(lines) == 1 and "unavailable" in lines[0]
    finally:
        server.kill()
        await store.aclose()


async def test_the_log_never_shows_the_password(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    secret_url = "redis://:hunter2-secret@127.0.0.1:9/0"
    store = RedisStore(RedisPlan(Secret("redis://***@127.0.0.1:9/0", secret_url), timeout=0.2, connect_timeout=0.2))
    try:
        with caplog.at_level(logging.WARNING, logger="modelmux.redis"):
            assert await store.get_bytes("k") is None
        assert "hunter2" not in caplog.text and "unavailable" in caplog.text
    finally:
        await store.aclose()


async def test_after_an_outage_redis_is_used_again(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    server = start_redis(tmp_path / "redis")
    port = server.port
    store = RedisStore(settings(server.url, timeout=0.2, connect_timeout=0.2))
    store.health.retry_interval = 0.0
    try:
        server.kill()
        assert not await store.ping()
        server = start_redis(tmp_path / "redis", port=port)
        with caplog.at_level(logging.WARNING, logger="modelmux.redis"):
            assert await store.ping()
        assert not store.health.down and "answers again" in caplog.text
        await store.set_bytes("k", b"v", 60)
        assert await store.fetch("k") == b"v"
    finally:
        server.kill()
        await store.aclose()
