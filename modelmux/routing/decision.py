"""The router: one request's facts and the current plan in, an ordered list of providers out.

Steps, in order (each exclusion is recorded with its reason for `explain` and the logs):
1. Rules: the first rule whose predicate matches (only those `candidate_rules` names for the model,
   in order) picks the route, may rewrite the model, and narrows the candidates to its providers
   ("not in rule target"); a rule without providers keeps all that serve the model. No match: route
   "default", every provider serving the model. Providers that do not serve the model are excluded
   ("does not serve model").
2. Data residency `enforced`: with a request region, providers outside it are excluded ("outside
   allowed regions"), never tried, not even as a fallback. A request with no region at all (no
   header, no org region, no `default_region`) has nothing to enforce and is not filtered.
3. Availability: providers with an open circuit (or a half-open one whose probe is in flight) are
   excluded ("circuit open"), so are those over their outbound rate limit or waiting out an upstream
   Retry-After ("rate limited"). When nothing is left, the decision has no candidates: the request
   fails fast (503 "all providers unavailable") and `retry_after` says when the first one may be back.
4. The strategy orders what is left (`hybrid` uses its `base`); `custom` asks the Lua script. With
   `geographic: true` or residency `preferred`/`enforced`, the request's region comes first, then its
   nearest regions, then the rest (the custom script orders on its own).

Router state (round-robin counters, the loaded Lua script) lives on the Router; provider health on
the RuntimeState. `decide` consumes nothing: the executor calls `try_acquire` per attempt.

Speed: what depends only on the plan (rules by index, the narrowed pool and its exclusions per rule
and model) is computed once per plan object and cached on the Router (a few plans, bounded entries),
so a decision does no per-call rebuilding (benchmarks/routing_bench.py).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from modelmux.plan.models import Plan, ProviderPlan, RegionPlan, RoutingPlan, RulePlan
from modelmux.routing.geo import by_region, in_region, request_region
from modelmux.routing.lua import MAX_PROMPT_CHARS, LuaRouter, LuaScriptError
from modelmux.routing.state import CIRCUIT_OPEN, ProviderRuntimeState, RuntimeState
from modelmux.routing.strategies import StrategyContext, strategy_named

if TYPE_CHECKING:  # the DSL package is only needed for the type of the facts
    from modelmux.dsl.facts import RequestFacts

logger = logging.getLogger("modelmux.routing")

DOES_NOT_SERVE = "does not serve model"
NOT_IN_TARGET = "not in rule target"
OUTSIDE_REGION = "outside allowed regions"
NOT_CHOSEN = "not chosen by custom script"
UNKNOWN_PROVIDER = "unknown provider"
_MAX_COUNTERS = 10_000
_MAX_REPORTED = 100
_MAX_PLANS = 4
_MAX_POOLS = 4096
Pool = tuple[tuple["ProviderPlan", ...], tuple[tuple[str, str], ...]]


@dataclass(frozen=True, slots=True)
class RouteDecision:
    route: str
    rule: RulePlan | None
    model: str
    candidates: tuple[ProviderPlan, ...]
    excluded: tuple[tuple[str, str], ...]
    strategy: str
    notes: tuple[str, ...] = ()
    retry_after: float | None = None

    @property
    def unavailable(self) -> bool:
        """No candidate because every provider that could serve is down or rate limited (answer 503)."""
        return not self.candidates and self.retry_after is not None


class Router:
    def __init__(self, state: RuntimeState, rng: random.Random | None = None) -> None:
        self.state = state
        self.rng = rng if rng is not None else state.rng
        self._counters: dict[str, int] = {}
        self._rules: tuple[RoutingPlan, Mapping[int, RulePlan]] | None = None
        self._pools: dict[int, tuple[Plan, dict[tuple[int, str], Pool]]] = {}
        self._script: tuple[str, int, LuaRouter | None, str | None] | None = None
        self._reported: set[str] = set()

    def decide(self, plan: Plan, facts: RequestFacts) -> RouteDecision:
        self.state.sync(plan)
        notes: list[str] = []
        excluded: list[tuple[str, str]] = []
        rule = self.match_rule(plan.routing, facts, notes)
        model = rule.model if rule is not None and rule.model else facts.model
        narrowed, excluded_early = self._narrowed(plan, rule, model)
        excluded.extend(excluded_early)
        pool: Sequence[ProviderPlan] = narrowed
        region = request_region(plan, facts.region) if _uses_regions(plan.routing) else None
        if region is not None and plan.routing.data_residency == "enforced":
            pool = _enforce_residency(region, pool, excluded)
        states: dict[str, ProviderRuntimeState] = {}
        pool, retry_after = self._available(pool, excluded, states)
        route = rule.name if rule is not None else "default"
        if plan.routing.strategy == "custom":
            ordered = self._custom(plan.routing, facts, model, route, pool, states, notes, excluded)
        else:
            ordered = self._ordered(plan, facts, model, route, region, pool, states)
        return RouteDecision(
            route=route,
            rule=rule,
            model=model,
            candidates=tuple(ordered),
            excluded=tuple(excluded),
            strategy=plan.routing.strategy,
            notes=tuple(notes),
            retry_after=retry_after if not ordered else None,
        )

    def preview(self, plan: Plan, facts: RequestFacts) -> RouteDecision:
        """What `decide` answers now, leaving the round-robin turns as they were (for `explain`)."""
        counters = dict(self._counters)
        try:
            return self.decide(plan, facts)
        finally:
            self._counters = counters

    def match_rule(self, routing: RoutingPlan, facts: RequestFacts, notes: list[str] | None = None) -> RulePlan | None:
        """The first rule that matches, trying only the rules `candidate_rules` gives for the model."""
        by_index = self._rule_index(routing)
        for index in routing.candidate_rules(facts.model):
            rule = by_index.get(index)
            if rule is None:
                continue
            try:
                matched = rule.predicate(facts)
            except Exception as exc:  # a rule must never take a request down
                self._report(f"routing rule {rule.name} ({rule.location}) failed and was skipped: {exc}")
                if notes is not None:
                    notes.append(f"rule {rule.name} failed and was skipped: {exc}")
                continue
            if matched:
                return rule
        return None

    def _rule_index(self, routing: RoutingPlan) -> Mapping[int, RulePlan]:
        if self._rules is None or self._rules[0] is not routing:
            self._rules = (routing, {rule.index: rule for rule in routing.rules})
        return self._rules[1]

    def _narrowed(self, plan: Plan, rule: RulePlan | None, model: str) -> Pool:
        """`_narrow` for this plan, rule and model, computed once and cached per plan object."""
        entry = self._pools.get(id(plan))
        if entry is None or entry[0] is not plan:
            if len(self._pools) >= _MAX_PLANS:
                self._pools.clear()
            entry = self._pools[id(plan)] = (plan, {})
        pools = entry[1]
        key = (rule.index if rule is not None else -1, model)
        found = pools.get(key)
        if found is None:
            if len(pools) >= _MAX_POOLS:  # models are client-chosen names: keep the cache bounded
                pools.clear()
            excluded: list[tuple[str, str]] = []
            found = pools[key] = (tuple(_narrow(plan, rule, model, excluded)), tuple(excluded))
        return found

    def _available(
        self,
        pool: Sequence[ProviderPlan],
        excluded: list[tuple[str, str]],
        states: dict[str, ProviderRuntimeState],
    ) -> tuple[list[ProviderPlan], float | None]:
        kept: list[ProviderPlan] = []
        waits: list[float] = []
        provider_state = self.state.provider
        now = self.state.clock()
        for provider in pool:
            state = provider_state(provider)
            verdict = state.availability(now)
            if verdict.ok:
                kept.append(provider)
                states[provider.name] = state
            else:
                excluded.append((provider.name, verdict.reason or CIRCUIT_OPEN))
                waits.append(verdict.retry_in)
        return kept, (min(waits) if waits and not kept else None)

    def _ordered(
        self,
        plan: Plan,
        facts: RequestFacts,
        model: str,
        route: str,
        region: RegionPlan | None,
        pool: list[ProviderPlan],
        states: Mapping[str, ProviderRuntimeState],
    ) -> list[ProviderPlan]:
        routing = plan.routing
        if len(self._counters) > _MAX_COUNTERS:
            self._counters.clear()
        ctx = StrategyContext(plan, facts, model, states, self.rng, self._counters, region, route)
        name = routing.base if routing.strategy == "hybrid" else routing.strategy
        ordered = strategy_named(name)(pool, ctx)
        if region is not None and (routing.geographic or routing.data_residency != "off"):
            ordered = by_region(plan, region, ordered)
        return ordered

    def _custom(
        self,
        routing: RoutingPlan,
        facts: RequestFacts,
        model: str,
        route: str,
        pool: list[ProviderPlan],
        states: Mapping[str, ProviderRuntimeState],
        notes: list[str],
        excluded: list[tuple[str, str]],
    ) -> list[ProviderPlan]:
        if not pool:
            return []
        try:
            engine = self._engine(routing)
            names = engine.route(
                request_table(facts, model, route),
                [p.name for p in pool],
                {p.name: provider_table(p, states[p.name]) for p in pool},
                seed=self.rng.getrandbits(62),
            )
        except LuaScriptError as exc:
            self._report(f"custom routing script failed, using config order: {exc}")
            notes.append(f"custom script failed, config order used: {exc}")
            return list(pool)
        by_name = {p.name: p for p in pool}
        chosen: dict[str, ProviderPlan] = {}
        for name in names:
            if name not in by_name:
                notes.append(f"custom script returned {name!r}, which is not a candidate")
            else:
                chosen.setdefault(name, by_name[name])
        excluded.extend((p.name, NOT_CHOSEN) for p in pool if p.name not in chosen)
        return list(chosen.values())

    def _report(self, message: str) -> None:
        """Log a failure once per distinct message (every request still gets it in `notes`)."""
        if message in self._reported:
            return
        if len(self._reported) >= _MAX_REPORTED:
            self._reported.clear()
        self._reported.add(message)
        logger.warning("%s", message)

    def _engine(self, routing: RoutingPlan) -> LuaRouter:
        script = routing.custom_script
        if script is None:
            raise LuaScriptError("strategy `custom` has no script")
        limit = routing.custom_instruction_limit
        cached = self._script
        if cached is None or cached[0] != script or cached[1] != limit:
            try:
                cached = (script, limit, LuaRouter(script, limit), None)
            except LuaScriptError as exc:
                cached = (script, limit, None, str(exc))
            self._script = cached
            self._reported.clear()
        if cached[2] is None:
            raise LuaScriptError(cached[3] or "the script did not load")
        return cached[2]


def _uses_regions(routing: RoutingPlan) -> bool:
    return routing.geographic or routing.data_residency != "off" or "geographic" in (routing.strategy, routing.base)


def _narrow(plan: Plan, rule: RulePlan | None, model: str, excluded: list[tuple[str, str]]) -> list[ProviderPlan]:
    """The providers a request may use before health is considered, in rule-target or serving order."""
    serving_names = plan.providers_for(model)
    serving = set(serving_names)
    if rule is None or not rule.providers:
        excluded.extend((p.name, DOES_NOT_SERVE) for p in plan.providers if p.name not in serving)
        return [plan.provider_index[name] for name in serving_names if name in plan.provider_index]
    pool: list[ProviderPlan] = []
    for name in rule.providers:
        provider = plan.provider_index.get(name)
        if provider is None:
            excluded.append((name, UNKNOWN_PROVIDER))
        elif name not in serving:
            excluded.append((name, DOES_NOT_SERVE))
        elif all(p.name != name for p in pool):
            pool.append(provider)
    targets = set(rule.providers)
    for provider in plan.providers:
        if provider.name not in targets:
            excluded.append((provider.name, NOT_IN_TARGET if provider.name in serving else DOES_NOT_SERVE))
    return pool


def _enforce_residency(
    region: RegionPlan, pool: Sequence[ProviderPlan], excluded: list[tuple[str, str]]
) -> list[ProviderPlan]:
    kept = [p for p in pool if in_region(region, p)]
    inside = {p.name for p in kept}
    excluded.extend((p.name, OUTSIDE_REGION) for p in pool if p.name not in inside)
    return kept


def request_table(facts: RequestFacts, model: str, route: str) -> dict[str, object]:
    """The `request` table a custom script sees."""
    return {
        "model": model,
        "requested_model": facts.model,
        "route": route,
        "stream": facts.stream,
        "deterministic": facts.deterministic,
        "temperature": facts.temperature,
        "max_tokens": facts.max_tokens,
        "tools": facts.tools,
        "user": facts.user,
        "org": facts.org,
        "team": facts.team,
        "role": facts.role,
        "region": facts.region,
        "latency": facts.latency,
        "prompt_tokens": facts.prompt_tokens,
        "prompt": facts.prompt[:MAX_PROMPT_CHARS],
        "headers": dict(facts.headers),
        "metadata": dict(facts.metadata),
    }


def provider_table(provider: ProviderPlan, state: ProviderRuntimeState) -> dict[str, object]:
    """What a custom script sees of one candidate."""
    return {
        "name": provider.name,
        "type": provider.type,
        "region": provider.region,
        "weight": provider.weight,
        "in_flight": state.in_flight,
        "latency": state.latency_estimate(False),
        "ttft": state.latency_estimate(True),
        "error_rate": state.error_rate(),
        "breaker": state.breaker_state().value,
    }
