"""Replicas share breaker verdicts and split outbound rate limits through Redis (runtime/sharing.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from modelmux.plan.models import Plan
from modelmux.routing import BreakerState, RuntimeState
from modelmux.runtime.holder import PlanHolder
from modelmux.runtime.services import Services
from modelmux.runtime.sharing import Sharing
from modelmux.runtime.stores import MemoryStore
from modelmux.runtime.stores.redis import RedisStore
from tests.e2e.conftest import compile_yaml
from tests.stores.redis_server import start_redis

CONFIG = """
version: 1
providers:
  - name: main
    type: openai
    api_key: sk-test
    base_url: http://127.0.0.1:9/v1
    models: [gpt-4o]
    rate_limit: {rpm: 5, tpm: 1001}
    circuit_breaker: {failures: 2, window: 60s, cooldown: 30s}
  - name: spare
    type: openai
    api_key: sk-test
    base_url: http://127.0.0.1:9/v1
    models: [gpt-4o]
redis:
  url: ${REDIS_URL}
  timeout: 200ms
  connect_timeout: 200ms
"""


def plan_for(tmp_path: Path, url: str) -> Plan:
    plan, _ = compile_yaml(tmp_path / "modelmux.yaml", CONFIG, {"REDIS_URL": url})
    return plan


@pytest.fixture
async def fleet(tmp_path: Path, redis_url: str) -> AsyncIterator[tuple[Plan, Sharing, Sharing]]:
    plan = plan_for(tmp_path, redis_url)
    one, two = Sharing(RuntimeState()), Sharing(RuntimeState())
    for sharing in (one, two):
        sharing.adopt(plan)
    yield plan, one, two
    for sharing in (one, two):
        await sharing.aclose()
        if sharing.store is not None:
            await sharing.store.aclose()


def rpm(sharing: Sharing, plan: Plan, name: str = "main") -> float | None:
    bucket = sharing.state.provider(plan.provider_index[name]).limiter.rpm
    return None if bucket is None else bucket.capacity


async def test_replicas_split_each_outbound_limit(fleet: tuple[Plan, Sharing, Sharing]) -> None:
    plan, one, two = fleet
    assert await one.sync_once(plan) and await two.sync_once(plan) and await one.sync_once(plan)
    assert one.replicas == two.replicas and len(one.replicas) == 2
    assert sorted([rpm(one, plan), rpm(two, plan)]) == [2, 3]
    tpm = [s.state.provider(plan.provider_index["main"]).limiter.tpm for s in (one, two)]
    assert sorted(b.capacity for b in tpm if b is not None) == [500, 501]
    assert rpm(one, plan, "spare") is None
    await two.aclose()
    assert await one.sync_once(plan)
    assert one.replicas == (one.replica,) and rpm(one, plan) == 5


async def test_a_breaker_opened_by_one_replica_opens_on_the_other(fleet: tuple[Plan, Sharing, Sharing]) -> None:
    plan, one, two = fleet
    await one.sync_once(plan)
    await two.sync_once(plan)
    provider = plan.provider_index["main"]
    local = one.state.provider(provider)
    for _ in range(2):
        local.on_failure("status_5xx")
    assert local.breaker_state() is BreakerState.OPEN
    assert one._wake.is_set(), "a local opening wakes the sync task at once"
    await one.sync_once(plan)
    remote = two.state.provider(provider)
    assert remote.breaker_state() is BreakerState.CLOSED
    await two.sync_once(plan)
    assert remote.breaker_state() is BreakerState.OPEN
    assert 29.0 < remote.breaker.retry_in(two.clock()) <= 30.0
    assert not remote.availability().ok
    assert two.state.provider(plan.provider_index["spare"]).breaker_state() is BreakerState.CLOSED
    await two.sync_once(plan)
    await one.sync_once(plan)  # an applied verdict is not published back as the other's own
    assert abs(local.breaker.retry_in(one.clock()) - remote.breaker.retry_in(two.clock())) < 1.0


async def test_a_replica_keeps_serving_while_redis_is_down(tmp_path: Path) -> None:
    server = start_redis(tmp_path / "redis")
    plan = plan_for(tmp_path, server.url)
    sharing = Sharing(RuntimeState())
    sharing.adopt(plan)
    try:
        assert await sharing.sync_once(plan)
        server.kill()
        assert not await sharing.sync_once(plan)
        assert rpm(sharing, plan) == 5
    finally:
        server.kill()
        await sharing.aclose()
        if sharing.store is not None:
            await sharing.store.aclose()


async def test_a_plan_without_redis_shares_nothing(tmp_path: Path, redis_url: str) -> None:
    plan = plan_for(tmp_path, redis_url)
    sharing = Sharing(RuntimeState())
    store = sharing.adopt(plan)
    assert store is not None
    plain, _ = compile_yaml(tmp_path / "plain.yaml", CONFIG.split("redis:")[0], {})
    assert sharing.adopt(plain) is None and sharing.store is None
    assert not await sharing.sync_once(plain)
    await sharing.aclose()  # closes the retired store


async def test_services_use_the_redis_store_while_the_plan_has_redis(tmp_path: Path, redis_url: str) -> None:
    services = Services(PlanHolder(None))
    local = services.store
    assert isinstance(local, MemoryStore)
    services.install(plan_for(tmp_path, redis_url), {})
    shared = services.store
    assert isinstance(shared, RedisStore)
    await services.start()
    assert services.sharing.replicas == (services.sharing.replica,)
    plain, _ = compile_yaml(tmp_path / "plain.yaml", CONFIG.split("redis:")[0], {})
    services.install(plain, {})
    assert services.store is local
    await services.aclose()
