"""Helpers for the routing tests: a settable clock and plans compiled from small YAML strings."""

from __future__ import annotations

import dataclasses
import random
import textwrap
from typing import Any

from modelmux.compiler.compile import compile_file
from modelmux.dsl.facts import RequestFacts
from modelmux.plan.models import Plan
from modelmux.routing import ProviderRuntimeState, RouteDecision, Router, RuntimeState


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def compile_plan(yaml_text: str) -> Plan:
    result = compile_file("test.yaml", env={}, text=textwrap.dedent(yaml_text))
    errors = [f"{d.span.line}:{d.span.column} {d.message}" for d in result.errors]
    assert result.plan is not None, errors
    return result.plan


def with_routing(plan: Plan, **changes: Any) -> Plan:
    """The plan with some RoutingPlan fields replaced (e.g. the custom script text)."""
    return dataclasses.replace(plan, routing=dataclasses.replace(plan.routing, **changes))


def mock_providers(*names: str, models: str = '["gpt-4"]', extra: str = "") -> str:
    """A providers: section of mock providers serving `models`."""
    lines = ["providers:"]
    for name in names:
        lines += [f"  - name: {name}", "    type: mock", f"    models: {models}"]
        if extra:
            lines += [f"    {line}" for line in extra.splitlines()]
    return "\n".join(lines) + "\n"


class Harness:
    """A router over a plan, with a fake clock and a seeded random generator."""

    def __init__(self, plan: Plan, seed: int = 7) -> None:
        self.plan = plan
        self.clock = FakeClock()
        self.rng = random.Random(seed)
        self.state = RuntimeState(clock=self.clock, rng=self.rng)
        self.router = Router(self.state, rng=self.rng)

    def decide(self, model: str = "gpt-4", **facts: Any) -> RouteDecision:
        return self.router.decide(self.plan, RequestFacts(model=model, **facts))

    def names(self, model: str = "gpt-4", **facts: Any) -> list[str]:
        return [p.name for p in self.decide(model, **facts).candidates]

    def provider(self, name: str) -> ProviderRuntimeState:
        return self.state.provider(self.plan.provider_index[name])
