"""The executor: routes a request, runs attempts with retries and fallbacks, and owns the outcome.

Adapters only translate; the executor sends, times, retries, falls back, feeds the breakers and
latency statistics, and relays streams. Retry policy (CONFIG.md `routing.fallback`):
- 400, 404, 413 and 422 are answered at once, after exactly one upstream call;
- 401, 403 and 429 move on to another provider and never retry the same one;
- statuses in `on:`, timeouts and connection errors retry, on the next candidate first, with
  backoff (full jitter, `Retry-After` honoured and bounded) when a provider is tried again;
- a stream may fall back only before its first byte reached the client;
- `attempt_timeout` bounds one attempt (a stream's until its first chunk) and `deadline` the whole
  request: no attempt or backoff outlasts it, and none starts after it.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from modelmux.dsl import RequestFacts
from modelmux.errors import RequestError
from modelmux.plan.models import FallbackPlan, Plan, ProviderPlan
from modelmux.providers.base import JSONObject, ProviderAdapter, UpstreamTarget
from modelmux.providers.registry import AdapterUnavailable, adapter_for
from modelmux.routing import (
    CIRCUIT_OPEN,
    RATE_LIMITED,
    RouteDecision,
    Router,
    RuntimeState,
    backoff_delay,
)
from modelmux.runtime.attempt import OpenStream, open_stream, send_json, time_limit
from modelmux.runtime.clients import UpstreamClients
from modelmux.runtime.outcome import AttemptFailure, Outcome
from modelmux.runtime.streaming import StreamEnd, StreamStamp, relay

NEVER_RETRIED = frozenset({400, 404, 413, 422})
MOVE_ON = frozenset({401, 403, 429})
OPENAI_FAMILY = frozenset({"openai", "azure_openai", "openai_compatible", "huggingface", "mock"})


@dataclass
class Attempts:
    """The state of one request's attempts: who was tried, and what the last failure was."""

    decision: RouteDecision
    fallback: FallbackPlan
    max_attempts: int
    estimated_tokens: int = 0
    count: int = 0
    skipped: set[str] = field(default_factory=set)
    tried: list[str] = field(default_factory=list)
    last_failure: AttemptFailure | None = None
    retry_after: dict[str, float] = field(default_factory=dict)
    deadline_at: float | None = None

    def next_provider(self) -> ProviderPlan | None:
        usable = [p for p in self.decision.candidates if p.name not in self.skipped]
        if not usable:
            return None
        fresh = [p for p in usable if p.name not in self.tried]
        if fresh:
            return fresh[0]
        return usable[self.count % len(usable)]


class Executor:
    def __init__(
        self,
        clients: UpstreamClients,
        state: RuntimeState,
        *,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clients = clients
        self.state = state
        self.rng = rng or random.Random()
        self.router = Router(state, self.rng)
        self.sleep = sleep
        self.clock = clock
        self._adapters: dict[tuple[str, str], ProviderAdapter] = {}

    def adapter(self, plan: Plan, provider: ProviderPlan) -> ProviderAdapter:
        key = (plan.fingerprint, provider.name)
        adapter = self._adapters.get(key)
        if adapter is None:
            try:
                adapter = adapter_for(provider)
            except AdapterUnavailable as exc:
                raise AttemptFailure(RequestError(501, str(exc), type="api_error"), "translation", 501) from exc
            self._adapters[key] = adapter
        return adapter

    def forget_plan(self, fingerprint: str) -> list[ProviderAdapter]:
        stale = [key for key in self._adapters if key[0] == fingerprint]
        return [self._adapters.pop(key) for key in stale]

    async def aclose(self) -> None:
        """Release what adapters hold (Vertex AI's token refresher and its HTTP client)."""
        adapters, self._adapters = list(self._adapters.values()), {}
        for adapter in adapters:
            await adapter.aclose()

    def route(self, plan: Plan, facts: RequestFacts) -> RouteDecision:
        decision = self.router.decide(plan, facts)
        if decision.candidates:
            return decision
        if not plan.providers_for(decision.model):
            raise RequestError(
                404,
                f"The model `{facts.model}` does not exist or you do not have access to it.",
                code="model_not_found",
                param="model",
            )
        reasons = "; ".join(f"{name}: {why}" for name, why in decision.excluded) or "no candidate"
        headers = {"X-ModelMux-Route": decision.route, "X-ModelMux-Attempts": "0", "X-ModelMux-Provider": ""}
        if decision.retry_after is not None:
            headers["Retry-After"] = str(max(1, round(decision.retry_after)))
        message = f"no provider is available for model {facts.model!r} ({reasons})"
        if _only_rate_limited(decision):
            raise RequestError(429, message, type="rate_limit_error", code="rate_limit_exceeded", headers=headers)
        raise RequestError(503, message, type="api_error", code="no_available_provider", headers=headers)

    async def chat(self, plan: Plan, body: JSONObject, facts: RequestFacts) -> Outcome:
        decision = self.route(plan, facts)
        attempts = self._attempts(plan, decision, facts)
        stream = bool(body.get("stream"))
        while (provider := self._next(attempts)) is not None:
            await self._pause(plan, attempts, provider)
            target = UpstreamTarget(provider, facts.model, provider.upstream_model(decision.model) or decision.model)
            try:
                if stream:
                    return await self._stream_attempt(plan, body, target, attempts, facts)
                return await self._json_attempt(plan, body, target, attempts, facts)
            except AttemptFailure as failure:
                if not self._after_failure(attempts, provider, failure):
                    break
        raise self._final_error(attempts)

    async def embeddings(self, plan: Plan, body: JSONObject, facts: RequestFacts) -> Outcome:
        decision = self.route(plan, facts)
        attempts = self._attempts(plan, decision, facts)
        while (provider := self._next(attempts)) is not None:
            await self._pause(plan, attempts, provider)
            target = UpstreamTarget(provider, facts.model, provider.upstream_model(decision.model) or decision.model)
            adapter = self.adapter(plan, provider)
            runtime = self.state.provider(provider)
            runtime.on_start()
            started = self.clock()
            try:
                async with time_limit(self._limit(attempts), provider.name):
                    result = await self._send_embeddings(adapter, body, target)
            except AttemptFailure as failure:
                self._record_failure(runtime, failure)
                if not self._after_failure(attempts, provider, failure):
                    break
                continue
            except asyncio.CancelledError:
                runtime.on_cancel()
                raise
            runtime.on_success(self.clock() - started, None, _total_tokens(result))
            return Outcome(200, orjson.dumps(result), headers=self._headers(attempts, provider))
        raise self._final_error(attempts)

    async def _send_embeddings(self, adapter: ProviderAdapter, body: JSONObject, target: UpstreamTarget) -> JSONObject:
        return await send_json(
            self.clients.get(target.provider),
            lambda: adapter.build_embeddings(body, target),
            lambda payload: adapter.parse_embeddings(payload, target),
            adapter,
            target,
            target.provider.timeout,
        )

    def _attempts(self, plan: Plan, decision: RouteDecision, facts: RequestFacts) -> Attempts:
        fallback = plan.routing.fallback
        maximum = 1 + fallback.max_retries if fallback.enabled else 1
        estimate = facts.prompt_tokens + (facts.max_tokens or 256)
        deadline_at = self.clock() + fallback.deadline if fallback.deadline is not None else None
        return Attempts(decision, fallback, maximum, estimate, deadline_at=deadline_at)

    def _remaining(self, attempts: Attempts) -> float | None:
        return None if attempts.deadline_at is None else attempts.deadline_at - self.clock()

    def _limit(self, attempts: Attempts) -> float | None:
        """How long the next attempt may take: `attempt_timeout`, and no longer than the `deadline` allows."""
        limits = [x for x in (attempts.fallback.attempt_timeout, self._remaining(attempts)) if x is not None]
        return min(limits) if limits else None

    def _next(self, attempts: Attempts) -> ProviderPlan | None:
        """The next provider to try that grants a slot (breaker probe, outbound rate limit)."""
        while attempts.count < attempts.max_attempts:
            remaining = self._remaining(attempts)
            if remaining is not None and remaining <= 0 and attempts.count > 0:
                return None
            provider = attempts.next_provider()
            if provider is None:
                return None
            if self.state.provider(provider).try_acquire(attempts.estimated_tokens):
                attempts.count += 1
                return provider
            attempts.skipped.add(provider.name)
            if attempts.last_failure is None:
                attempts.last_failure = _unavailable(provider)
        return None

    async def _pause(self, plan: Plan, attempts: Attempts, provider: ProviderPlan) -> None:
        if provider.name not in attempts.tried:
            attempts.tried.append(provider.name)
            return
        retry_number = attempts.count - 1
        delay = backoff_delay(plan.routing.fallback, retry_number, attempts.retry_after.get(provider.name), self.rng)
        remaining = self._remaining(attempts)
        if remaining is not None:
            delay = min(delay, max(remaining, 0.0))
        if delay > 0:
            await self.sleep(delay)

    async def _json_attempt(
        self, plan: Plan, body: JSONObject, target: UpstreamTarget, attempts: Attempts, facts: RequestFacts
    ) -> Outcome:
        provider = target.provider
        adapter = self.adapter(plan, provider)
        runtime = self.state.provider(provider)
        runtime.on_start()
        started = self.clock()
        try:
            async with time_limit(self._limit(attempts), provider.name):
                result = await send_json(
                    self.clients.get(provider),
                    lambda: adapter.build_chat(body, target, stream=False),
                    lambda payload: adapter.parse_chat(payload, target),
                    adapter,
                    target,
                    provider.timeout,
                )
        except AttemptFailure as failure:
            self._record_failure(runtime, failure)
            raise
        except asyncio.CancelledError:
            runtime.on_cancel()
            raise
        elapsed = self.clock() - started
        runtime.on_success(elapsed, None, _total_tokens(result))
        return Outcome(200, orjson.dumps(result), headers=self._headers(attempts, provider))

    async def _stream_attempt(
        self, plan: Plan, body: JSONObject, target: UpstreamTarget, attempts: Attempts, facts: RequestFacts
    ) -> Outcome:
        provider = target.provider
        adapter = self.adapter(plan, provider)
        runtime = self.state.provider(provider)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        upstream_body = _with_usage(body) if provider.type in OPENAI_FAMILY else body
        runtime.on_start()
        started = self.clock()
        try:
            async with time_limit(self._limit(attempts), provider.name):
                opened: OpenStream = await open_stream(
                    self.clients.get(provider), adapter, upstream_body, target, provider.timeout
                )
        except AttemptFailure as failure:
            self._record_failure(runtime, failure)
            raise
        except asyncio.CancelledError:
            runtime.on_cancel()
            raise
        ttft = self.clock() - started
        stamp = StreamStamp(f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time()), facts.model, include_usage)

        def finished(end: StreamEnd) -> None:
            if end.cancelled:
                runtime.on_cancel()
            elif end.ok:
                runtime.on_success(self.clock() - started, ttft, _usage_tokens(end.usage))
            else:
                runtime.on_failure(end.error_kind or "stream_error")

        stream = relay(opened.first, opened.upstream, opened.decoder, opened.response, stamp, finished)
        return Outcome(200, stream=stream, headers=self._headers(attempts, provider))

    def _record_failure(self, runtime: Any, failure: AttemptFailure) -> None:
        if failure.kind in ("timeout", "connect_error"):
            runtime.on_failure(failure.kind)
        elif failure.kind == "status" and (failure.status >= 500):
            runtime.on_failure("status_5xx")
        elif failure.status == 429:
            runtime.penalize(failure.retry_after)
            runtime.on_cancel()
        else:
            runtime.on_cancel()

    def _after_failure(self, attempts: Attempts, provider: ProviderPlan, failure: AttemptFailure) -> bool:
        """Record a failure; True when another attempt may follow."""
        attempts.last_failure = failure
        if failure.retry_after is not None:
            attempts.retry_after[provider.name] = failure.retry_after
        if failure.kind == "translation" or failure.status in NEVER_RETRIED:
            return False
        if failure.status in MOVE_ON:
            attempts.skipped.add(provider.name)
            return True
        policy = attempts.fallback
        if failure.kind == "timeout":
            return policy.retry_timeout
        if failure.kind in ("connect_error", "stream_error"):
            return policy.retry_connect_error
        return failure.status in policy.retry_statuses

    def _final_error(self, attempts: Attempts) -> RequestError:
        failure = attempts.last_failure
        if failure is None:
            return RequestError(
                503,
                "no provider could be tried",
                type="api_error",
                code="no_available_provider",
                headers=self._headers(attempts, None),
            )
        error = failure.error
        error.headers = {**error.headers, **self._headers(attempts, None)}
        if failure.retry_after is not None:
            error.headers["Retry-After"] = str(max(1, round(failure.retry_after)))
        return error

    def _headers(self, attempts: Attempts, provider: ProviderPlan | None) -> dict[str, str]:
        name = provider.name if provider else (attempts.tried[-1] if attempts.tried else "")
        return {
            "X-ModelMux-Provider": name,
            "X-ModelMux-Route": attempts.decision.route,
            "X-ModelMux-Attempts": str(attempts.count),
        }


def _with_usage(body: JSONObject) -> JSONObject:
    """Ask OpenAI-family upstreams for usage on every stream; the relay strips it unless asked."""
    options = body.get("stream_options") or {}
    if options.get("include_usage"):
        return body
    return {**body, "stream_options": {**options, "include_usage": True}}


def _total_tokens(result: JSONObject) -> int | None:
    return _usage_tokens(result.get("usage"))


def _usage_tokens(usage: Any) -> int | None:
    if isinstance(usage, dict) and isinstance(usage.get("total_tokens"), int):
        return int(usage["total_tokens"])
    return None


def _only_rate_limited(decision: RouteDecision) -> bool:
    """Every provider that could serve is waiting out a rate limit (not a broken circuit): a 429."""
    waiting = [why for _, why in decision.excluded if why in (RATE_LIMITED, CIRCUIT_OPEN)]
    return bool(waiting) and all(why == RATE_LIMITED for why in waiting)


def _unavailable(provider: ProviderPlan) -> AttemptFailure:
    error = RequestError(
        503,
        f"provider {provider.name!r} is unavailable (circuit open or rate limited)",
        type="api_error",
        code="no_available_provider",
    )
    return AttemptFailure(error, "unavailable", 503)
