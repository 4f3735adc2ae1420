"""What `/admin/providers` shows of each provider: its place in the plan and its live state in this
worker (breaker, latency and time-to-first-token EWMAs, error rate, requests in flight, limits)."""

from __future__ import annotations

from typing import Any

from modelmux.observability.metrics import CIRCUIT_CODES
from modelmux.plan.models import Plan
from modelmux.routing import RuntimeState


def provider_report(plan: Plan | None, state: RuntimeState) -> list[dict[str, Any]]:
    """One entry per provider of the plan, in config order (providers never used yet included)."""
    report = []
    for provider in plan.providers if plan is not None else ():
        runtime = state.provider(provider)
        verdict = runtime.availability()
        snapshot = runtime.snapshot()
        report.append(
            {
                "name": provider.name,
                "type": provider.type,
                "region": provider.region,
                "models": [route.public for route in provider.models] + (["*"] if provider.wildcard else []),
                "available": verdict.ok,
                "unavailable_reason": verdict.detail,
                "circuit_state": CIRCUIT_CODES.get(str(snapshot.get("breaker")), 0),
                **snapshot,
            }
        )
    return report
