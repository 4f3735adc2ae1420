"""The executor: routes a request, runs attempts with retries and fallbacks, and owns the outcome.

Adapters only translate; the executor sends, times, retries, falls back, feeds the breakers and
latency statistics, and relays streams (retry policy: `runtime/attempts.py`). A stream may fall back
only before its first byte reached the client. `attempt_timeout` bounds one attempt (a stream's until
its first chunk) and `deadline` the whole request: no attempt or backoff outlasts it.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from modelmux.dsl import RequestFacts
from modelmux.errors import RequestError
from modelmux.plan.models import Plan, ProviderPlan
from modelmux.providers.base import JSONObject, ProviderAdapter, UpstreamTarget
from modelmux.providers.registry import AdapterUnavailable, adapter_for
from modelmux.routing import ProviderRuntimeState, RouteDecision, Router, RuntimeState, backoff_delay
from modelmux.runtime.attempt import open_stream, send_json, time_limit
from modelmux.runtime.attempts import Attempts, only_rate_limited, unavailable
from modelmux.runtime.clients import UpstreamClients
from modelmux.runtime.outcome import AttemptFailure, AttemptRecord, Outcome
from modelmux.runtime.streaming import StreamEnd, StreamStamp, relay

OPENAI_FAMILY = frozenset({"openai", "azure_openai", "openai_compatible", "huggingface", "mock"})


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

    def retire_plans_except(self, keep: set[str]) -> list[ProviderAdapter]:
        """Forget the adapters of every plan not in `keep`; returns them for closing."""
        stale = [key for key in self._adapters if key[0] not in keep]
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
        if only_rate_limited(decision):
            raise RequestError(429, message, type="rate_limit_error", code="rate_limit_exceeded", headers=headers)
        raise RequestError(503, message, type="api_error", code="no_available_provider", headers=headers)

    async def chat(
        self, plan: Plan, body: JSONObject, facts: RequestFacts, records: list[AttemptRecord] | None = None
    ) -> Outcome:
        decision = self.route(plan, facts)
        attempts = self._attempts(plan, decision, facts, records)
        stream = bool(body.get("stream"))
        while (provider := self._next(attempts)) is not None:
            await self._pause(plan, attempts, provider)
            target = self._target(provider, decision, facts)
            try:
                if stream:
                    return await self._stream_attempt(plan, body, target, attempts)
                return await self._json_attempt(plan, target, attempts, body, embeddings=False)
            except AttemptFailure as failure:
                if not attempts.may_retry(provider, failure):
                    break
        raise attempts.final_error()

    async def embeddings(
        self, plan: Plan, body: JSONObject, facts: RequestFacts, records: list[AttemptRecord] | None = None
    ) -> Outcome:
        decision = self.route(plan, facts)
        attempts = self._attempts(plan, decision, facts, records)
        while (provider := self._next(attempts)) is not None:
            await self._pause(plan, attempts, provider)
            try:
                return await self._json_attempt(
                    plan, self._target(provider, decision, facts), attempts, body, embeddings=True
                )
            except AttemptFailure as failure:
                if not attempts.may_retry(provider, failure):
                    break
        raise attempts.final_error()

    def _target(self, provider: ProviderPlan, decision: RouteDecision, facts: RequestFacts) -> UpstreamTarget:
        return UpstreamTarget(provider, facts.model, provider.upstream_model(decision.model) or decision.model)

    def _attempts(
        self, plan: Plan, decision: RouteDecision, facts: RequestFacts, records: list[AttemptRecord] | None
    ) -> Attempts:
        fallback = plan.routing.fallback
        maximum = 1 + fallback.max_retries if fallback.enabled else 1
        estimate = facts.prompt_tokens + (facts.max_tokens or 256)
        deadline_at = self.clock() + fallback.deadline if fallback.deadline is not None else None
        return Attempts(
            decision,
            fallback,
            maximum,
            estimate,
            deadline_at=deadline_at,
            records=records if records is not None else [],
        )

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
                attempts.last_failure = unavailable(provider)
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
        self, plan: Plan, target: UpstreamTarget, attempts: Attempts, body: JSONObject, *, embeddings: bool
    ) -> Outcome:
        provider = target.provider
        adapter = self.adapter(plan, provider)
        runtime = self.state.provider(provider)
        runtime.on_start()
        started = self.clock()
        if embeddings:
            build = lambda: adapter.build_embeddings(body, target)  # noqa: E731
            parse = lambda payload: adapter.parse_embeddings(payload, target)  # noqa: E731
        else:
            build = lambda: adapter.build_chat(body, target, stream=False)  # noqa: E731
            parse = lambda payload: adapter.parse_chat(payload, target)  # noqa: E731
        try:
            async with time_limit(self._limit(attempts), provider.name):
                result = await send_json(self.clients.get(provider), build, parse, adapter, target, provider.timeout)
        except AttemptFailure as failure:
            self._record_failure(runtime, failure, attempts, target, started)
            raise
        except asyncio.CancelledError:
            runtime.on_cancel()
            self._record(attempts, target, 499, "cancelled", started)
            raise
        elapsed = self.clock() - started
        usage = result.get("usage") if isinstance(result.get("usage"), dict) else None
        runtime.on_success(elapsed, None, _usage_tokens(usage))
        self._record(attempts, target, 200, "ok", started)
        outcome = Outcome(200, orjson.dumps(result), headers=attempts.headers(provider))
        return self._describe(outcome, attempts, target, usage)

    async def _stream_attempt(
        self, plan: Plan, body: JSONObject, target: UpstreamTarget, attempts: Attempts
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
                opened = await open_stream(self.clients.get(provider), adapter, upstream_body, target, provider.timeout)
        except AttemptFailure as failure:
            self._record_failure(runtime, failure, attempts, target, started)
            raise
        except asyncio.CancelledError:
            runtime.on_cancel()
            self._record(attempts, target, 499, "cancelled", started)
            raise
        ttft = self.clock() - started
        stamp = StreamStamp(f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time()), target.public_model, include_usage)
        outcome = self._describe(Outcome(200, headers=attempts.headers(provider)), attempts, target, None)
        outcome.ttft = ttft

        def finished(end: StreamEnd) -> None:
            self._stream_finished(end, runtime, attempts, target, started, ttft, outcome)

        outcome.stream = relay(opened.first, opened.upstream, opened.decoder, opened.response, stamp, finished)
        return outcome

    def _stream_finished(
        self,
        end: StreamEnd,
        runtime: ProviderRuntimeState,
        attempts: Attempts,
        target: UpstreamTarget,
        started: float,
        ttft: float,
        outcome: Outcome,
    ) -> None:
        outcome.usage = end.usage
        if end.cancelled:
            runtime.on_cancel()
            outcome.cancelled = True
            self._record(attempts, target, 499, "cancelled", started)
        elif end.ok:
            runtime.on_success(self.clock() - started, ttft, _usage_tokens(end.usage))
            self._record(attempts, target, 200, "ok", started)
        else:
            runtime.on_failure(end.error_kind or "stream_error")
            outcome.stream_error = end.error_kind or "stream_error"
            self._record(attempts, target, 502, "stream_error", started)
        outcome.complete()

    def _describe(
        self, outcome: Outcome, attempts: Attempts, target: UpstreamTarget, usage: dict[str, Any] | None
    ) -> Outcome:
        outcome.model = target.public_model
        outcome.provider = target.provider.name
        outcome.provider_type = target.provider.type
        outcome.upstream_model = target.upstream_model
        outcome.route = attempts.decision.route
        outcome.usage = usage
        outcome.attempts = attempts.records
        return outcome

    def _record(self, attempts: Attempts, target: UpstreamTarget, status: int, kind: str, started: float) -> None:
        provider = target.provider
        seconds = self.clock() - started
        attempts.records.append(
            AttemptRecord(provider.name, provider.type, target.upstream_model, status, kind, seconds)
        )

    def _record_failure(
        self,
        runtime: ProviderRuntimeState,
        failure: AttemptFailure,
        attempts: Attempts,
        target: UpstreamTarget,
        started: float,
    ) -> None:
        self._record(attempts, target, failure.status, failure.kind, started)
        if failure.kind in ("timeout", "connect_error"):
            runtime.on_failure(failure.kind)
        elif failure.kind == "status" and failure.status >= 500:
            runtime.on_failure("status_5xx")
        elif failure.status == 429:
            runtime.penalize(failure.retry_after)
            runtime.on_cancel()
        else:
            runtime.on_cancel()


def _with_usage(body: JSONObject) -> JSONObject:
    """Ask OpenAI-family upstreams for usage on every stream; the relay strips it unless asked."""
    options = body.get("stream_options") or {}
    if options.get("include_usage"):
        return body
    return {**body, "stream_options": {**options, "include_usage": True}}


def _usage_tokens(usage: Any) -> int | None:
    if isinstance(usage, dict) and isinstance(usage.get("total_tokens"), int):
        return int(usage["total_tokens"])
    return None
