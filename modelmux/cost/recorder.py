"""The cost of one finished request and its ledger row (the cost finalizer's work).

- A JSON response is priced as soon as the executor returns it: its usage is known. A stream is priced
  when it ends (`outcome.usage` is set then), in the outcome's finalizer.
- A response the upstream did not answer (a cache hit) costs nothing.
- When an upstream reports no usage (some OpenAI-compatible servers ignore `include_usage`, a stream
  cancelled before its usage chunk), the prompt side is estimated (four characters a token) and the
  completion side counted as 0: the ledger is then a lower bound for that request.
"""

from __future__ import annotations

import time
from datetime import datetime
from decimal import Decimal

from modelmux.cost.ledger import UsageRecord
from modelmux.cost.pricing import NO_TOKENS, ZERO, PlanPrices, Tokens, cost_of, tokens_from_usage
from modelmux.runtime.middleware.base import RequestContext
from modelmux.runtime.outcome import Outcome

COST_HEADER = "X-ModelMux-Cost-USD"
BASIS_HEADER = "X-ModelMux-Cost-Basis"
CACHE_HEADER = "X-ModelMux-Cache"


def answered_upstream(outcome: Outcome) -> bool:
    return outcome.provider is not None and outcome.headers.get(CACHE_HEADER) != "HIT"


def price_outcome(ctx: RequestContext, outcome: Outcome, prices: PlanPrices) -> tuple[Tokens, Decimal]:
    """The billed tokens and dollars of a completed request."""
    tokens = tokens_from_usage(outcome.usage)
    if not answered_upstream(outcome):
        return tokens or Tokens(), ZERO
    if tokens is None:
        tokens = Tokens(ctx.facts().prompt_tokens, 0, 0)
    price = prices.price(outcome.provider, outcome.upstream_model or outcome.model)
    return tokens, cost_of(price, tokens)


def stream_status(outcome: Outcome) -> int:
    if outcome.cancelled:
        return 499
    if outcome.stream_error:
        return 502
    return outcome.status


def usage_record(
    ctx: RequestContext,
    arrived: datetime,
    *,
    status: int,
    tokens: Tokens = NO_TOKENS,
    cost: Decimal = ZERO,
    outcome: Outcome | None = None,
) -> UsageRecord:
    """One ledger row: who asked, what answered, what it cost."""
    identity = ctx.identity
    model = outcome.model if outcome is not None and outcome.model else str(ctx.body.get("model", ""))
    return UsageRecord(
        ts=arrived,
        request_id=ctx.request_id,
        key_name=identity.key_name,
        user=identity.user,
        org=identity.org,
        team=identity.team,
        endpoint=ctx.endpoint,
        route=outcome.route if outcome is not None else "",
        provider=outcome.provider if outcome is not None else None,
        model=model,
        upstream_model=outcome.upstream_model if outcome is not None else None,
        prompt_tokens=tokens.prompt,
        completion_tokens=tokens.completion,
        cached_tokens=tokens.cached,
        cost=cost,
        status=status,
        latency_ms=round((time.perf_counter() - ctx.started) * 1000.0, 3),
        stream=bool(ctx.body.get("stream")),
    )
