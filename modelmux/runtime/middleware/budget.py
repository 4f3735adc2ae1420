"""Cost and budgets: prices every request, enforces budgets, and writes the usage ledger.

Runs after authentication (it reads `ctx.identity`) and before PII and the cache. Per request:
1. Budgets that apply to the caller (gateway, key, org, team, user) reserve the request's estimate —
   an upper bound of its prompt tokens (its JSON bytes) plus `max_tokens` (else
   `cost_tracking.default_completion_tokens`), at the highest price among the providers serving the
   model — atomically in the state store. One that
   would be exceeded answers 429 `budget_exceeded` (`on_exceed: block`), lets the request through and
   alerts (`alert`), or rewrites the model to `downgrade_to` / the cheapest equivalent the caller may
   use and reserves again (`downgrade`).
2. After the executor: a JSON response is priced from its usage at once (`X-ModelMux-Cost-USD`, six
   decimals; `ctx.annotations["cost_usd"]`, a Decimal) and its reservation settled. A stream's headers
   leave before its usage exists: its header carries the prompt-side estimate
   (`X-ModelMux-Cost-Basis: estimate`), and its finalizer prices the finished stream exactly, updates
   `ctx.annotations["cost_usd"]`, and settles the reservation.
3. Every request, refused or failed ones too, becomes one ledger row (when cost tracking is on).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from modelmux.cost.alerts import plan_destinations
from modelmux.cost.budgets import BudgetBook, BudgetRule
from modelmux.cost.equivalents import allowed, downgrade_target
from modelmux.cost.guard import BudgetExceeded, Reservation
from modelmux.cost.pricing import NO_TOKENS, ZERO, PlanPrices, Tokens, prompt_token_bound, usd
from modelmux.cost.recorder import (
    BASIS_HEADER,
    COST_HEADER,
    answered_upstream,
    price_outcome,
    stream_status,
    usage_record,
)
from modelmux.errors import RequestError
from modelmux.plan.models import Plan
from modelmux.runtime.middleware.base import Handler, Middleware, RequestContext
from modelmux.runtime.outcome import Outcome

if TYPE_CHECKING:
    from modelmux.runtime.services import Services

DOWNGRADE_HEADER = "X-ModelMux-Downgraded-From"


def budget_policy(plan: Plan, services: Services) -> Middleware:
    """The cost layer of a plan. Always on: every response carries its cost."""
    return CostPolicy(plan, services)


class CostPolicy:
    def __init__(self, plan: Plan, services: Services) -> None:
        analytics = plan.sections.get("analytics") or {}
        tracking = analytics.get("cost_tracking") or {}
        self.plan = plan
        self.prices = PlanPrices(plan)
        self.book = BudgetBook(plan)
        self.costs = services.costs
        self.writer = self.costs.writer_for(plan)
        self.guard = self.costs.guard(services.store)
        self.destinations = plan_destinations(plan)
        self.default_completion = int(tracking.get("default_completion_tokens") or 1024)

    async def __call__(self, ctx: RequestContext, call_next: Handler) -> Outcome:
        arrived = datetime.now(UTC)
        rules = self.book.rules(ctx.identity) if not self.book.empty else ()
        reservation = await self._reserve(ctx, rules, arrived) if rules else None
        try:
            outcome = await call_next(ctx)
        except RequestError as error:
            await self._release(reservation)
            error.headers = {**error.headers, COST_HEADER: usd(ZERO)}
            self._write(ctx, arrived, error.status)
            raise
        except BaseException:
            await self._release(reservation)
            raise
        if "downgraded_from" in ctx.annotations:
            outcome.headers[DOWNGRADE_HEADER] = str(ctx.annotations["downgraded_from"])
        if outcome.stream is None:
            await self._priced_json(ctx, outcome, reservation, arrived)
        else:
            self._priced_stream(ctx, outcome, reservation, arrived)
        return outcome

    async def _priced_json(
        self, ctx: RequestContext, outcome: Outcome, reservation: Reservation | None, arrived: datetime
    ) -> None:
        tokens, cost = price_outcome(ctx, outcome, self.prices)
        outcome.headers[COST_HEADER] = usd(cost)
        outcome.headers[BASIS_HEADER] = "usage"
        ctx.annotations["cost_usd"] = cost
        if reservation is not None:
            await self.guard.settle(reservation, cost, self.destinations)
        self._write(ctx, arrived, outcome.status, tokens, cost, outcome)

    def _priced_stream(
        self, ctx: RequestContext, outcome: Outcome, reservation: Reservation | None, arrived: datetime
    ) -> None:
        upstream = outcome.upstream_model or outcome.model
        estimate = ZERO
        if answered_upstream(outcome):
            estimate = self.prices.prompt_estimate(outcome.provider, upstream, ctx.facts().prompt_tokens)
        outcome.headers[COST_HEADER] = usd(estimate)
        outcome.headers[BASIS_HEADER] = "estimate"
        ctx.annotations["cost_usd"] = estimate
        ctx.annotations["cost_estimated"] = True

        def finished(done: Outcome) -> None:
            tokens, cost = price_outcome(ctx, done, self.prices)
            ctx.annotations["cost_usd"] = cost
            ctx.annotations["cost_estimated"] = False
            if reservation is not None:
                self.costs.spawn(self.guard.settle(reservation, cost, self.destinations))
            self._write(ctx, arrived, stream_status(done), tokens, cost, done)

        outcome.finalizers.append(finished)

    def _write(
        self,
        ctx: RequestContext,
        arrived: datetime,
        status: int,
        tokens: Tokens = NO_TOKENS,
        cost: Decimal = ZERO,
        outcome: Outcome | None = None,
    ) -> None:
        if self.writer is not None:
            self.writer.submit(usage_record(ctx, arrived, status=status, tokens=tokens, cost=cost, outcome=outcome))

    async def _release(self, reservation: Reservation | None) -> None:
        if reservation is not None:
            await asyncio.shield(self.guard.settle(reservation, ZERO))

    def _estimate(self, ctx: RequestContext, model: str) -> Decimal:
        """An upper bound of the request's cost when it sets `max_tokens` (see `prompt_token_bound`)."""
        completion = 0 if ctx.endpoint == "embeddings" else ctx.facts().max_tokens or self.default_completion
        return self.prices.estimate(model, prompt_token_bound(ctx.body, ctx.endpoint), completion)

    async def _reserve(self, ctx: RequestContext, rules: tuple[BudgetRule, ...], arrived: datetime) -> Reservation:
        model = str(ctx.body.get("model", ""))
        try:
            return await self._take(ctx, rules, model)
        except BudgetExceeded as exceeded:
            failure = exceeded
        if all(c.rule.on_exceed == "downgrade" for c in failure.counters):
            target = self._downgrade(ctx, failure, model)
            if target is not None:
                try:
                    return await self._take(ctx, rules, target, downgraded_from=model)
                except BudgetExceeded as again:
                    failure = again
        self._write(ctx, arrived, 429)
        raise _refusal(failure)

    async def _take(
        self, ctx: RequestContext, rules: tuple[BudgetRule, ...], model: str, *, downgraded_from: str | None = None
    ) -> Reservation:
        """Reserve the estimate for `model`; with `downgraded_from`, rewrite the request to `model` once it fits."""
        seeder = self._seed if self.writer is not None else None
        estimate = self._estimate(ctx, model)
        reservation = await self.guard.reserve(rules, estimate, seeder=seeder, destinations=self.destinations)
        if downgraded_from is not None:
            ctx.body["model"] = model
            ctx.refresh_facts()
            ctx.annotations["downgraded_from"] = downgraded_from
        return reservation

    async def _seed(self, rule: BudgetRule, start: datetime, end: datetime) -> Decimal:
        assert self.writer is not None
        return await self.writer.total(start, end, rule.column, rule.subject)

    def _downgrade(self, ctx: RequestContext, failure: BudgetExceeded, model: str) -> str | None:
        globs = ctx.identity.models
        for counter in failure.counters:
            named = counter.rule.downgrade_to
            if named and named != model and self.plan.providers_for(named) and allowed(named, globs):
                return named
        return downgrade_target(self.plan, self.prices, model, globs)


def _refusal(failure: BudgetExceeded) -> RequestError:
    counter = failure.counters[0]
    rule = counter.rule
    retry = max(1, int((counter.end - datetime.now(UTC)).total_seconds()))
    message = (
        f"Budget exceeded: the {rule.period} budget of {rule.label} (${usd(rule.limit)}) does not cover this "
        f"request; it resets at {counter.end:%Y-%m-%dT%H:%M:%SZ}."
    )
    headers: dict[str, Any] = {COST_HEADER: usd(ZERO), "Retry-After": str(retry), "x-should-retry": "false"}
    return RequestError(429, message, type="insufficient_quota", code="budget_exceeded", headers=headers)
