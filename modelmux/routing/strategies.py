"""Strategies: each orders the candidate providers of one request, first to try first.

Every function takes the candidates (already narrowed by rules, residency and availability) and a
`StrategyContext`, and returns them reordered; none drops a candidate. Ties keep the incoming order,
which is the rule's target order or the config order.

- model_specific: the incoming order.
- round_robin: rotates the start by a counter per route and model.
- weighted: a weighted random order (each next pick proportional to `weight`); weight 0 goes last, in
  config order, so it is used only when every weighted provider failed.
- least_connections: fewest requests in flight first.
- latency: providers with no recent sample and nothing in flight first (explore), then by EWMA latency
  (time to first token for streams), then unknown providers whose exploring request is still in flight.
- cost: estimated cost (prompt tokens x input price + (max_tokens or 256) x output price) ascending;
  unknown price last.
- availability: closed breaker before half-open, then lower recent error rate.
- geographic: the request's region first, then its `nearest` regions in order, then the rest.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from modelmux.plan.models import Plan, ProviderPlan, RegionPlan
from modelmux.routing.breaker import BreakerState
from modelmux.routing.geo import by_region
from modelmux.routing.pricing import estimate_cost, price_for
from modelmux.routing.state import ProviderRuntimeState

if TYPE_CHECKING:  # the DSL package is only needed for the type of the facts
    from modelmux.dsl.facts import RequestFacts

DEFAULT_OUTPUT_TOKENS = 256


@dataclass(frozen=True, slots=True)
class StrategyContext:
    plan: Plan
    facts: RequestFacts
    model: str
    states: Mapping[str, ProviderRuntimeState]
    rng: random.Random
    counters: MutableMapping[str, int]
    region: RegionPlan | None = None
    route: str = "default"


Strategy = Callable[[Sequence[ProviderPlan], StrategyContext], list[ProviderPlan]]


def model_specific(candidates: Sequence[ProviderPlan], ctx: StrategyContext) -> list[ProviderPlan]:
    return list(candidates)


def round_robin(candidates: Sequence[ProviderPlan], ctx: StrategyContext) -> list[ProviderPlan]:
    if not candidates:
        return []
    key = f"{ctx.route}\x00{ctx.model}"
    turn = ctx.counters.get(key, 0)
    ctx.counters[key] = turn + 1
    start = turn % len(candidates)
    return [*candidates[start:], *candidates[:start]]


def weighted(candidates: Sequence[ProviderPlan], ctx: StrategyContext) -> list[ProviderPlan]:
    # An exponential race: each provider draws Exp(weight); the smallest draw goes first. The chance of
    # being first is weight / total, and so on down the list (sampling without replacement).
    drawn = [(ctx.rng.expovariate(p.weight), index, p) for index, p in enumerate(candidates) if p.weight > 0]
    drawn.sort(key=lambda item: (item[0], item[1]))
    return [p for _, _, p in drawn] + [p for p in candidates if p.weight <= 0]


def least_connections(candidates: Sequence[ProviderPlan], ctx: StrategyContext) -> list[ProviderPlan]:
    return sorted(candidates, key=lambda p: ctx.states[p.name].in_flight)


def latency(candidates: Sequence[ProviderPlan], ctx: StrategyContext) -> list[ProviderPlan]:
    def key(provider: ProviderPlan) -> tuple[int, float]:
        state = ctx.states[provider.name]
        estimate = state.latency_estimate(ctx.facts.stream)
        if estimate is not None:
            return (1, estimate)
        return (0, 0.0) if state.in_flight == 0 else (2, float(state.in_flight))

    return sorted(candidates, key=key)


def estimated_cost(provider: ProviderPlan, model: str, facts: RequestFacts) -> Decimal | None:
    """What the request would cost on a provider, or None when its price is unknown."""
    price = price_for(provider, provider.upstream_model(model) or model)
    if price is None:
        return None
    output = facts.max_tokens if facts.max_tokens is not None else DEFAULT_OUTPUT_TOKENS
    return estimate_cost(price, facts.prompt_tokens, output)


def cost(candidates: Sequence[ProviderPlan], ctx: StrategyContext) -> list[ProviderPlan]:
    def key(provider: ProviderPlan) -> tuple[int, Decimal]:
        estimate = estimated_cost(provider, ctx.model, ctx.facts)
        return (1, Decimal(0)) if estimate is None else (0, estimate)

    return sorted(candidates, key=key)


def availability(candidates: Sequence[ProviderPlan], ctx: StrategyContext) -> list[ProviderPlan]:
    def key(provider: ProviderPlan) -> tuple[int, float]:
        state = ctx.states[provider.name]
        closed = state.breaker_state() is BreakerState.CLOSED
        return (0 if closed else 1, state.error_rate())

    return sorted(candidates, key=key)


def geographic(candidates: Sequence[ProviderPlan], ctx: StrategyContext) -> list[ProviderPlan]:
    if ctx.region is None:
        return list(candidates)
    return by_region(ctx.plan, ctx.region, candidates)


STRATEGIES: Mapping[str, Strategy] = {
    "model_specific": model_specific,
    "round_robin": round_robin,
    "weighted": weighted,
    "least_connections": least_connections,
    "latency": latency,
    "cost": cost,
    "cost_optimized": cost,
    "availability": availability,
    "geographic": geographic,
}


def strategy_named(name: str) -> Strategy:
    """The ordering function of a (base) strategy; an unknown name orders by config."""
    return STRATEGIES.get(name, model_specific)
