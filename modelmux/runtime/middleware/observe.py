"""The outermost policy: times every request, and records it once it ends (metrics, trace, access log).

It sees every outcome, errors included: a `RequestError` (or a cancellation, or a crash) is recorded
and raised on unchanged, apart from the `X-ModelMux-Overhead-Ms` header it gains. A JSON answer is
recorded when its response is ready, a stream when it ends (an `Outcome` finalizer). Overhead is the
request's time less the time of its upstream attempts; for a stream, up to its first byte.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from modelmux.errors import RequestError
from modelmux.observability.bodies import BodyLogger
from modelmux.observability.logging import log_access, logging_section
from modelmux.observability.propagation import CURRENT_TRACE
from modelmux.observability.summary import Labels, RequestSummary, from_error, from_outcome
from modelmux.observability.tracing import RequestTrace, TracingSettings
from modelmux.plan.models import Plan
from modelmux.runtime.middleware.base import Handler, RequestContext
from modelmux.runtime.outcome import Outcome

if TYPE_CHECKING:
    from modelmux.runtime.services import Services

OVERHEAD_HEADER = "X-ModelMux-Overhead-Ms"
log = logging.getLogger("modelmux.observe")


def _overhead_ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


class Observe:
    def __init__(self, plan: Plan, services: Services) -> None:
        section: Mapping[str, Any] = plan.sections.get("observability") or {}
        settings = logging_section(section)
        telemetry = services.telemetry
        self.services = services
        self.labels = Labels(plan)
        self.metrics = telemetry.metrics if (section.get("metrics") or {}).get("enabled", True) else None
        self.tracing = telemetry.tracing(TracingSettings.from_section(section.get("tracing")))
        self.access = bool(settings.get("access_log", True))
        self.bodies = BodyLogger(plan) if settings.get("debug_bodies") else None

    async def __call__(self, ctx: RequestContext, call_next: Handler) -> Outcome:
        try:
            await ctx.load_body()  # a malformed or oversized body is recorded like any refusal
        except RequestError as error:
            overhead = self._failed(ctx, None, error.status, error.code, error.headers)
            error.headers = {**error.headers, OVERHEAD_HEADER: _overhead_ms(overhead)}
            raise
        trace = self.tracing.start(ctx) if self.tracing is not None else None
        token = CURRENT_TRACE.set(trace) if trace is not None else None
        try:
            if self.bodies is not None and self.bodies.enabled():
                self.bodies.request(ctx)
            outcome = await call_next(ctx)
        except RequestError as error:
            overhead = self._failed(ctx, trace, error.status, error.code, error.headers)
            error.headers = {**error.headers, OVERHEAD_HEADER: _overhead_ms(overhead)}
            raise
        except asyncio.CancelledError:
            self._failed(ctx, trace, 499, "client_closed", {})
            raise
        except Exception:
            self._failed(ctx, trace, 500, "internal_error", {})
            raise
        finally:
            if token is not None:
                CURRENT_TRACE.reset(token)
        return self._answered(ctx, trace, outcome)

    def _answered(self, ctx: RequestContext, trace: RequestTrace | None, outcome: Outcome) -> Outcome:
        elapsed = time.perf_counter() - ctx.started
        upstream = sum(attempt.seconds for attempt in ctx.attempts)
        first_byte: float | None = None
        if outcome.stream is not None:  # the final attempt is recorded when the stream ends
            upstream += outcome.ttft or 0.0
            first_byte = elapsed
        overhead = max(elapsed - upstream, 0.0)
        outcome.headers = {**outcome.headers, OVERHEAD_HEADER: _overhead_ms(overhead)}
        captured: bytearray | None = None
        if self.bodies is not None and outcome.stream is not None and self.bodies.enabled():
            captured = bytearray()
            outcome.stream = self.bodies.tee(outcome.stream, captured)
        outcome.finalizers.append(partial(self._finish, ctx, trace, overhead, first_byte, captured))
        return outcome

    def _finish(
        self,
        ctx: RequestContext,
        trace: RequestTrace | None,
        overhead: float,
        first_byte: float | None,
        captured: bytearray | None,
        outcome: Outcome,
    ) -> None:
        duration = time.perf_counter() - ctx.started
        summary = from_outcome(ctx, outcome, self.labels, duration=duration, overhead=overhead, first_byte=first_byte)
        self._record(summary, trace)
        if self.bodies is not None and self.bodies.enabled():
            self.bodies.response(ctx, outcome, captured)

    def _failed(
        self, ctx: RequestContext, trace: RequestTrace | None, status: int, code: str | None, headers: Mapping[str, str]
    ) -> float:
        duration = time.perf_counter() - ctx.started
        overhead = max(duration - sum(attempt.seconds for attempt in ctx.attempts), 0.0)
        try:
            summary = from_error(
                ctx, self.labels, status=status, code=code, headers=headers, duration=duration, overhead=overhead
            )
            self._record(summary, trace)
        except Exception:  # recording must never replace the error the client is owed
            log.exception("recording a failed request failed")
        return overhead

    def _record(self, summary: RequestSummary, trace: RequestTrace | None) -> None:
        if self.metrics is not None:
            self.metrics.record(summary)
            if self.metrics.multiprocess:
                svc = self.services
                providers = {attempt.provider for attempt in summary.attempts}
                self.metrics.refresh(svc.holder.plan, svc.holder.generation, svc.state, only=providers)
        if trace is not None:
            trace.finish(summary)
        if self.access:
            log_access(summary)


def observe_for(plan: Plan, services: Services) -> Observe:
    """The observe policy of `plan`; always on (the overhead header and the access log need it)."""
    return Observe(plan, services)
