"""Active health checks: probes against fake upstreams on 127.0.0.1, and what they do to routing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from types import MappingProxyType

import pytest

from modelmux.dsl.facts import RequestFacts
from modelmux.plan.models import Plan, ProviderPlan, Secret
from modelmux.providers.openai import OpenAIAdapter
from modelmux.routing import Router, RuntimeState
from modelmux.routing.health import CheckSettings, HealthChecker, settings_for
from modelmux.routing.state import UNHEALTHY
from tests.fakes import FakeServer, Reply
from tests.fakes import openai_like as oa
from tests.routing.support import compile_plan

KEY = "sk-health-test-0123456789"
FAST = CheckSettings(interval=30.0, timeout=2.0)
ANY_PLAN = compile_plan("providers:\n  - {name: x, type: mock, models: [m]}\n")  # the adapter source's argument


@pytest.fixture
def upstream() -> Iterator[FakeServer]:
    with FakeServer() as server:
        yield server


def provider(kind: str, base_url: str, **changes: object) -> ProviderPlan:
    options = {"health_check": MappingProxyType({"enabled": True, "interval": 30.0, "timeout": 2.0, "model": None})}
    fields: dict[str, object] = {
        "name": f"{kind}-p",
        "type": kind,
        "base_url": base_url,
        "api_key": Secret("${KEY}", KEY),
        "options": MappingProxyType({**options, "anthropic_version": "2023-06-01"}),
    }
    fields.update(changes)
    return ProviderPlan(**fields)  # type: ignore[arg-type]


def checker(state: RuntimeState, plan: Plan | None = None, **kwargs: object) -> HealthChecker:
    return HealthChecker(lambda: plan, state, **kwargs)  # type: ignore[arg-type]


def test_settings_come_from_the_provider_options() -> None:
    plan = compile_plan(
        """
providers:
  - {name: a, type: mock, models: [m], health_check: {interval: 200ms, timeout: 1s, model: m}}
  - {name: b, type: mock, models: [m], health_check: {enabled: false}}
  - {name: c, type: mock, models: [m]}
"""
    )
    a, b, c = plan.providers
    assert settings_for(a) == CheckSettings(interval=0.2, timeout=1.0, model="m")
    assert settings_for(b) is None
    assert settings_for(c) is None


async def test_openai_family_probes_models_with_its_key_and_recovers(upstream: FakeServer) -> None:
    upstream.script("GET", "/v1/models", Reply.json(oa.error_body("down", "server_error"), status=503), Reply.json({}))
    target = provider("openai", upstream.url + "/v1")
    state = RuntimeState()
    health = checker(state)
    result = await health.check(ANY_PLAN, target, FAST)
    assert result is not None and not result.ok
    assert result.detail == "GET /v1/models answered 503"
    runtime = state.provider(target)
    verdict = runtime.availability()
    assert (verdict.ok, verdict.reason, verdict.detail) == (False, UNHEALTHY, "health check failed: " + result.detail)
    assert runtime.available() == (False, "health check failed: GET /v1/models answered 503")
    assert not runtime.try_acquire(1)
    result = await health.check(ANY_PLAN, target, FAST)
    assert result is not None and result.ok
    assert runtime.availability().ok and runtime.try_acquire(1)
    assert upstream.requests[0].header("authorization") == f"Bearer {KEY}"
    await health.aclose()


async def test_anthropic_probes_v1_models_with_its_key(upstream: FakeServer) -> None:
    upstream.script("GET", "/v1/models", Reply.json({"data": []}))
    health = checker(RuntimeState())
    result = await health.check(ANY_PLAN, provider("anthropic", upstream.url), FAST)
    assert result is not None and result.ok
    assert upstream.requests[0].header("x-api-key") == KEY
    await health.aclose()


@pytest.mark.parametrize(
    ("reply", "healthy"),
    [
        (Reply.json(oa.error_body("slow down", "requests"), status=429, headers={"retry-after": "5"}), True),
        (Reply.json(oa.error_body("no such route", "invalid_request_error"), status=404), True),
        (Reply.json(oa.error_body("bad key", "invalid_request_error"), status=401), False),
        (Reply.json(oa.error_body("forbidden", "invalid_request_error"), status=403), False),
        (Reply.json(oa.error_body("boom", "server_error"), status=500), False),
        (Reply.reset(), False),
        (Reply.close(), False),
    ],
)
async def test_what_counts_as_a_failed_check(upstream: FakeServer, reply: Reply, healthy: bool) -> None:
    upstream.script("GET", "/v1/models", reply)
    state = RuntimeState()
    health = checker(state)
    target = provider("openai_compatible", upstream.url + "/v1")
    result = await health.check(ANY_PLAN, target, FAST)
    assert result is not None and result.ok is healthy
    assert state.provider(target).availability().ok is healthy
    await health.aclose()


async def test_a_probe_that_does_not_answer_in_time_fails(upstream: FakeServer) -> None:
    upstream.script("GET", "/v1/models", Reply.hang())
    state = RuntimeState()
    health = checker(state)
    target = provider("openai", upstream.url + "/v1")
    result = await health.check(ANY_PLAN, target, CheckSettings(interval=30.0, timeout=0.2))
    assert result is not None and result.detail == "no answer within 0.2s"
    assert state.provider(target).availability().retry_in == pytest.approx(30.0, abs=1.0)
    await health.aclose()


async def test_mock_providers_are_checked_without_network() -> None:
    plan = compile_plan(
        """
providers:
  - {name: up, type: mock, models: [m], health_check: {}}
  - {name: down, type: mock, models: [m], failure_rate: 1.0, failure_status: 503, health_check: {}}
"""
    )
    state = RuntimeState()
    health = checker(state, plan)
    up, down = plan.providers
    assert (await health.check(plan, up, FAST)).ok  # type: ignore[union-attr]
    assert not (await health.check(plan, down, FAST)).ok  # type: ignore[union-attr]
    decision = Router(state).decide(plan, RequestFacts(model="m"))
    assert [p.name for p in decision.candidates] == ["up"]
    assert ("down", UNHEALTHY) in decision.excluded


async def test_other_types_send_a_one_token_chat_to_the_check_model(upstream: FakeServer) -> None:
    upstream.script("POST", "/chat/completions", Reply.json(oa.chat_completion("h")))
    target = provider("bedrock", upstream.url, models=())
    health = checker(RuntimeState(), adapter=lambda plan, p: OpenAIAdapter(p))
    result = await health.check(ANY_PLAN, target, CheckSettings(30.0, 2.0, model="probe-model"))
    assert result is not None and result.ok
    body = upstream.requests[0].json()
    assert body["model"] == "probe-model" and body["max_tokens"] == 1 and len(body["messages"]) == 1
    await health.aclose()


async def test_other_types_without_a_check_model_are_skipped_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    target = provider("bedrock", "http://127.0.0.1:9", models=())
    state = RuntimeState()
    health = checker(state, adapter=lambda plan, p: OpenAIAdapter(p))
    with caplog.at_level(logging.WARNING, logger="modelmux.health"):
        assert await health.check(ANY_PLAN, target, FAST) is None
        assert await health.check(ANY_PLAN, target, FAST) is None
    assert len([r for r in caplog.records if "set health_check.model" in r.getMessage()]) == 1
    assert state.get(target.name) is None


async def wait_for(condition: Callable[[], bool], bound: float = 10.0) -> None:
    """Poll until `condition` holds (a bound on waiting, not a timing assertion)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + bound
    while not condition():
        assert loop.time() < deadline, "the condition did not hold in time"
        await asyncio.sleep(0.01)


CHECKED = """
providers:
  - name: flaky
    type: openai
    api_key: sk-x
    base_url: {url}/v1
    models: [m]
    rate_limit: {{rpm: 1}}
{check}
  - {{name: steady, type: mock, models: [m]}}
"""
CHECK = "    health_check: {interval: 50ms, timeout: 1s}"


async def test_the_loop_probes_on_its_interval_follows_reloads_and_takes_no_slot(upstream: FakeServer) -> None:
    upstream.script("GET", "/v1/models", Reply.json({}, status=500))
    current: list[Plan] = [compile_plan(CHECKED.format(url=upstream.url, check=CHECK))]
    state = RuntimeState()
    health = HealthChecker(lambda: current[0], state)
    stop = asyncio.Event()
    task = asyncio.create_task(health.run(stop))
    flaky_plan = current[0].provider_index["flaky"]
    await wait_for(lambda: len(upstream.requests_to("/v1/models")) >= 3)
    flaky = state.provider(flaky_plan)
    assert flaky.unhealthy == "GET /v1/models answered 500"
    assert flaky.in_flight == 0 and not flaky.outcomes  # probes are not requests
    assert flaky.limiter.rpm is not None and flaky.limiter.rpm.level(state.clock()) >= 1  # no token taken
    upstream.reset()
    upstream.script("GET", "/v1/models", Reply.json({}))
    await wait_for(lambda: flaky.unhealthy is None)
    upstream.script("GET", "/v1/models", Reply.json({}, status=500))
    await wait_for(lambda: flaky.unhealthy is not None)
    current[0] = compile_plan(CHECKED.format(url=upstream.url, check=""))
    await wait_for(lambda: flaky.unhealthy is None)  # checks turned off: healthy again
    count = len(upstream.requests)
    stop.set()
    await asyncio.wait_for(task, 5.0)
    assert len(upstream.requests) == count  # no probe once checks are off


async def test_a_probe_of_a_provider_reloaded_away_leaves_no_state(upstream: FakeServer) -> None:
    upstream.script("GET", "/v1/models", Reply.json({}, status=500))
    state = RuntimeState()
    health = checker(state, ANY_PLAN)  # the current plan no longer has the provider
    result = await health.check(ANY_PLAN, provider("openai", upstream.url + "/v1"), FAST)
    assert result is not None and not result.ok
    assert state.get("openai-p") is None
    await health.aclose()
