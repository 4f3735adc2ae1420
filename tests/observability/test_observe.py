"""The observe policy on its own, around hand-made inner handlers: what other policies annotate (cache
result, cost) and how errors and cancellations are recorded."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from prometheus_client.metrics_core import Metric

from modelmux.compiler.compile import compile_file
from modelmux.errors import RequestError
from modelmux.observability.metrics import Metrics, _CurrentOnly
from modelmux.plan.models import Plan
from modelmux.routing import estimate_cost, lookup_price
from modelmux.runtime.holder import PlanHolder
from modelmux.runtime.middleware.base import RequestContext
from modelmux.runtime.middleware.observe import OVERHEAD_HEADER, Observe
from modelmux.runtime.outcome import AttemptRecord, Outcome
from modelmux.runtime.services import Services
from tests.observability.conftest import parse_metrics, value

CONFIG = """
version: 1
providers:
  - name: p
    type: openai
    api_key: sk-test-observe-0123456789
    base_url: http://127.0.0.1:9/v1
    models: ["gpt-4o"]
"""
USAGE = {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150}


@pytest.fixture
def plan(tmp_path: Path) -> Plan:
    result = compile_file(tmp_path / "c.yaml", {}, text=CONFIG)
    assert result.plan is not None
    return result.plan


@pytest.fixture
def services(plan: Plan) -> Services:
    svc = Services(PlanHolder(None))
    svc.install(plan, {})
    return svc


def context(plan: Plan) -> RequestContext:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    return RequestContext("req-1", plan, "chat", body, {}, "127.0.0.1", time.perf_counter())


def answered(ctx: RequestContext, usage: dict[str, int] | None = USAGE) -> Outcome:
    ctx.attempts.append(AttemptRecord("p", "openai", "gpt-4o", 200, "ok", 0.01))
    return Outcome(
        200,
        orjson.dumps({}),
        model="gpt-4o",
        provider="p",
        provider_type="openai",
        upstream_model="gpt-4o",
        route="default",
        usage=usage,
        attempts=ctx.attempts,
    )


def samples(services: Services) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    plan = services.holder.plan
    return parse_metrics(services.telemetry.metrics.scrape(plan, services.holder.generation, services.state).decode())


async def test_a_cache_hit_counts_no_tokens_and_no_cost(plan: Plan, services: Services) -> None:
    async def cached(ctx: RequestContext) -> Outcome:
        ctx.annotations["cache"] = "hit"
        return Outcome(200, b"{}", model="gpt-4o", provider="p", route="default", usage=USAGE)

    outcome = await Observe(plan, services)(context(plan), cached)
    assert float(outcome.headers[OVERHEAD_HEADER]) >= 0
    outcome.complete()
    found = samples(services)
    assert value(found, "modelmux_cache_requests_total", result="hit") == 1
    assert value(found, "modelmux_tokens_total", direction="input", provider="p", model="gpt-4o") == 0
    assert value(found, "modelmux_cost_usd_total", provider="p", model="gpt-4o") == 0


async def test_without_a_cost_annotation_the_price_table_prices_the_request(plan: Plan, services: Services) -> None:
    async def upstream(ctx: RequestContext) -> Outcome:
        return answered(ctx)

    (await Observe(plan, services)(context(plan), upstream)).complete()
    expected = float(estimate_cost(lookup_price("gpt-4o"), 100, 50))
    assert expected > 0
    assert value(samples(services), "modelmux_cost_usd_total", provider="p", model="gpt-4o") == pytest.approx(expected)


async def test_a_cost_annotation_wins(plan: Plan, services: Services) -> None:
    async def priced(ctx: RequestContext) -> Outcome:
        ctx.annotations["cost_usd"] = Decimal("0.25")
        return answered(ctx)

    (await Observe(plan, services)(context(plan), priced)).complete()
    assert value(samples(services), "modelmux_cost_usd_total", provider="p", model="gpt-4o") == 0.25


async def test_a_budget_429_is_a_ratelimit_rejection_and_keeps_its_error(plan: Plan, services: Services) -> None:
    async def over_budget(ctx: RequestContext) -> Outcome:
        raise RequestError(429, "over budget", type="rate_limit_error", code="budget_exceeded")

    with pytest.raises(RequestError) as caught:
        await Observe(plan, services)(context(plan), over_budget)
    assert caught.value.code == "budget_exceeded" and OVERHEAD_HEADER in caught.value.headers
    found = samples(services)
    assert value(found, "modelmux_ratelimit_rejections_total", reason="budget") == 1
    assert value(found, "modelmux_requests_total", route="none", provider="none", model="gpt-4o", status="429") == 1


async def test_a_cancelled_request_is_counted_as_499(plan: Plan, services: Services) -> None:
    async def cancelled(ctx: RequestContext) -> Outcome:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await Observe(plan, services)(context(plan), cancelled)
    assert (
        value(samples(services), "modelmux_requests_total", route="none", provider="none", model="gpt-4o", status="499")
        == 1
    )


async def test_a_crash_is_counted_as_500_and_raised(plan: Plan, services: Services) -> None:
    async def crash(ctx: RequestContext) -> Outcome:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await Observe(plan, services)(context(plan), crash)
    assert (
        value(samples(services), "modelmux_requests_total", route="none", provider="none", model="gpt-4o", status="500")
        == 1
    )


def test_worker_files_are_filtered_to_the_live_plan(plan: Plan) -> None:
    info = Metric("modelmux_plan_info", "", "gauge")
    info.add_sample("modelmux_plan_info", {"fingerprint": "old", "generation": "1"}, 0.0)
    info.add_sample("modelmux_plan_info", {"fingerprint": plan.fingerprint, "generation": "2"}, 1.0)
    circuit = Metric("modelmux_circuit_state", "", "gauge")
    circuit.add_sample("modelmux_circuit_state", {"provider": "p"}, 2.0)
    circuit.add_sample("modelmux_circuit_state", {"provider": "removed"}, 0.0)

    class Files:
        def collect(self) -> list[Metric]:
            return [info, circuit]

    kept = {m.name: [s.labels for s in m.samples] for m in _CurrentOnly(Files(), plan).collect()}  # type: ignore[arg-type]
    assert kept == {
        "modelmux_plan_info": [{"fingerprint": plan.fingerprint, "generation": "2"}],
        "modelmux_circuit_state": [{"provider": "p"}],
    }


def test_a_new_plan_replaces_the_plan_info_and_forgets_removed_circuits(plan: Plan, services: Services) -> None:
    metrics = Metrics()
    metrics.refresh(plan, 1, services.state)
    metrics.refresh(plan, 2, services.state)
    found = parse_metrics(metrics.scrape(None, 3, services.state).decode())
    assert not [k for k in found if k[0] in ("modelmux_plan_info", "modelmux_circuit_state")]
