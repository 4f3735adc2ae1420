"""What one request amounted to, computed once when it ends, for the metrics, the trace and the access log.

Label values are bounded here: a model label is a model of the plan's catalog (else `other`), a route a
rule name of the plan or `default` (else `none`), a provider a provider of the plan (else `none`). No
value a client chose reaches a metric label.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from modelmux.plan.models import Plan
from modelmux.routing import estimate_cost, price_for
from modelmux.runtime.middleware.base import RequestContext
from modelmux.runtime.outcome import AttemptRecord, Outcome

CACHE_RESULTS = frozenset({"hit", "miss", "bypass"})
LIMIT_REASONS = {"rate_limit_exceeded": "rate_limit", "budget_exceeded": "budget"}


class Labels:
    """The label values a plan allows, built once per plan."""

    def __init__(self, plan: Plan) -> None:
        self.routes = frozenset({"default", *(rule.name for rule in plan.routing.rules)})
        self.providers = frozenset(plan.provider_index)
        self.models = frozenset(plan.models)

    def route(self, name: str | None) -> str:
        return name if name in self.routes else "none"

    def provider(self, name: str | None) -> str:
        return name if name in self.providers else "none"

    def model(self, name: str | None) -> str:
        return name if name in self.models else "other"


@dataclass(slots=True)
class RequestSummary:
    request_id: str
    endpoint: str
    stream: bool
    route: str  # bounded
    provider: str  # bounded
    provider_type: str | None
    model: str  # bounded
    requested_model: str  # what the client asked for (never a label)
    upstream_model: str | None
    status: int
    error_code: str | None
    attempts: tuple[AttemptRecord, ...]
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None
    duration: float
    overhead: float
    first_byte: float | None
    cache: str | None
    key_name: str | None
    limited: str | None  # why ModelMux itself answered 429, when it did


def _requested(ctx: RequestContext) -> str:
    model = ctx.body.get("model")
    return model if isinstance(model, str) else ""


def _cache(ctx: RequestContext) -> str | None:
    value = ctx.annotations.get("cache")
    return value if value in CACHE_RESULTS else None


def _tokens(usage: Mapping[str, Any] | None, name: str) -> int | None:
    value = usage.get(name) if usage else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _cost(ctx: RequestContext, outcome: Outcome, cache: str | None) -> float | None:
    annotated = ctx.annotations.get("cost_usd")
    if isinstance(annotated, int | float | Decimal) and not isinstance(annotated, bool):
        return float(annotated)
    if cache == "hit" or outcome.provider is None or not outcome.usage:
        return None
    provider = ctx.plan.provider_index.get(outcome.provider)
    if provider is None:
        return None
    usage = outcome.usage
    details = usage.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else 0
    price = price_for(provider, outcome.upstream_model or outcome.model)
    prompt = _tokens(usage, "prompt_tokens") or 0
    completion = _tokens(usage, "completion_tokens") or 0
    return float(estimate_cost(price, prompt, completion, cached if isinstance(cached, int) else 0))


def from_outcome(
    ctx: RequestContext, outcome: Outcome, labels: Labels, *, duration: float, overhead: float, first_byte: float | None
) -> RequestSummary:
    status, code = outcome.status, None
    if outcome.cancelled:
        status, code = 499, "client_closed"
    elif outcome.stream_error:
        status, code = 502, "upstream_stream_error"
    cache = _cache(ctx)
    counted = outcome.usage if cache != "hit" else None
    return RequestSummary(
        request_id=ctx.request_id,
        endpoint=ctx.endpoint,
        stream=outcome.stream is not None,
        route=labels.route(outcome.route),
        provider=labels.provider(outcome.provider),
        provider_type=outcome.provider_type,
        model=labels.model(outcome.model or _requested(ctx)),
        requested_model=_requested(ctx),
        upstream_model=outcome.upstream_model,
        status=status,
        error_code=code,
        attempts=tuple(ctx.attempts),
        input_tokens=_tokens(counted, "prompt_tokens"),
        output_tokens=_tokens(counted, "completion_tokens"),
        cost_usd=_cost(ctx, outcome, cache),
        duration=duration,
        overhead=overhead,
        first_byte=first_byte,
        cache=cache,
        key_name=ctx.identity.key_name,
        limited=None,
    )


def from_error(
    ctx: RequestContext,
    labels: Labels,
    *,
    status: int,
    code: str | None,
    headers: Mapping[str, str],
    duration: float,
    overhead: float,
) -> RequestSummary:
    attempts = tuple(ctx.attempts)
    provider = attempts[-1].provider if attempts else headers.get("X-ModelMux-Provider")
    limited = None
    if status == 429 and not attempts:
        limited = LIMIT_REASONS.get(code or "", "other")
    return RequestSummary(
        request_id=ctx.request_id,
        endpoint=ctx.endpoint,
        stream=bool(ctx.body.get("stream")),
        route=labels.route(headers.get("X-ModelMux-Route")),
        provider=labels.provider(provider),
        provider_type=attempts[-1].provider_type if attempts else None,
        model=labels.model(_requested(ctx)),
        requested_model=_requested(ctx),
        upstream_model=attempts[-1].upstream_model if attempts else None,
        status=status,
        error_code=code,
        attempts=attempts,
        input_tokens=None,
        output_tokens=None,
        cost_usd=None,
        duration=duration,
        overhead=overhead,
        first_byte=None,
        cache=_cache(ctx),
        key_name=ctx.identity.key_name,
        limited=limited,
    )
