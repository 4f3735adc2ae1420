"""OpenTelemetry traces (opt-in: `observability.tracing`): a server span per request, a client span per
upstream attempt, with the GenAI semantic-convention attributes.

A client's W3C `traceparent` is honoured: the request span joins the client's trace, and every upstream
request carries a `traceparent` naming its attempt span (written by the pooled clients' request hook,
see `propagation.py`). Spans go to an OTLP (http/protobuf) collector when `otlp_endpoint` is set; without
one they are still made, so that upstreams see the client's trace. OpenTelemetry is imported only when a
plan turns tracing on, so `modelmux validate` and untraced servers never load it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from modelmux.observability.summary import RequestSummary
from modelmux.runtime.middleware.base import RequestContext
from modelmux.runtime.outcome import AttemptRecord

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span, Tracer

log = logging.getLogger("modelmux.tracing")

# gen_ai.system values of the GenAI semantic conventions; other provider types are named as they are.
GENAI_SYSTEMS = {
    "openai": "openai",
    "azure_openai": "az.ai.openai",
    "anthropic": "anthropic",
    "vertex_ai": "gcp.vertex_ai",
    "cohere": "cohere",
    "bedrock": "aws.bedrock",
}
REQUEST_PARAMETERS = {
    "max_tokens": "gen_ai.request.max_tokens",
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
}


@dataclass(frozen=True, slots=True)
class TracingSettings:
    enabled: bool
    otlp_endpoint: str | None
    sample_ratio: float
    service_name: str

    @classmethod
    def from_section(cls, section: Mapping[str, Any] | None) -> TracingSettings | None:
        """The settings of `observability.tracing`, or None when tracing is off."""
        if not section or not section.get("enabled", True):
            return None
        return cls(True, section.get("otlp_endpoint"), float(section.get("sample_ratio", 1.0)), section["service_name"])


def traces_url(endpoint: str) -> str:
    """An OTLP/HTTP base URL (`http://collector:4318`) gets the traces path; a full URL is kept."""
    return endpoint.rstrip("/") + "/v1/traces" if urlsplit(endpoint).path in ("", "/") else endpoint


def genai_system(provider_type: str | None) -> str | None:
    return GENAI_SYSTEMS.get(provider_type, provider_type) if provider_type else None


def _now_ns() -> int:
    return time.time_ns()


class Tracing:
    """A tracer provider for one set of settings (built once, shared by the plans that use them)."""

    def __init__(self, settings: TracingSettings, exporter: SpanExporter | None = None) -> None:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
        from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        from modelmux import __version__

        self.settings = settings
        sampler = ParentBased(TraceIdRatioBased(settings.sample_ratio))
        resource = Resource.create({"service.name": settings.service_name, "service.version": __version__})
        self.provider: TracerProvider = TracerProvider(sampler=sampler, resource=resource)
        if exporter is not None:
            self.provider.add_span_processor(SimpleSpanProcessor(exporter))
        elif settings.otlp_endpoint:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            otlp = OTLPSpanExporter(endpoint=traces_url(settings.otlp_endpoint))
            self.provider.add_span_processor(BatchSpanProcessor(otlp))
        self.tracer: Tracer = self.provider.get_tracer("modelmux", __version__)
        self.propagator = TraceContextTextMapPropagator()

    def start(self, ctx: RequestContext) -> RequestTrace:
        """The request's server span, in the client's trace when it sent a `traceparent`."""
        from opentelemetry.trace import SpanKind

        parent = self.propagator.extract(ctx.headers)
        model = ctx.body.get("model") if isinstance(ctx.body.get("model"), str) else ""
        operation = "chat" if ctx.endpoint == "chat" else "embeddings"
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": operation,
            "gen_ai.request.model": model,
            "modelmux.request_id": ctx.request_id,
            "http.request.method": "POST",
        }
        for name, attribute in REQUEST_PARAMETERS.items():
            value = ctx.body.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                attributes[attribute] = value
        started = _now_ns() - int((time.perf_counter() - ctx.started) * 1e9)
        span = self.tracer.start_span(
            f"{operation} {model}", context=parent, kind=SpanKind.SERVER, attributes=attributes, start_time=started
        )
        return RequestTrace(self, span, operation)

    def shutdown(self) -> None:
        self.provider.shutdown()


class RequestTrace:
    """One request's spans: the server span and the attempt spans opened as upstream requests go out."""

    def __init__(self, tracing: Tracing, span: Span, operation: str) -> None:
        self.tracing = tracing
        self.span = span
        self.operation = operation
        self.pending: list[tuple[str, Span, int]] = []
        self.finished = False

    def attempt_started(self, provider: str, request: httpx.Request) -> None:
        """Open the attempt's client span and write its `traceparent` into the upstream request."""
        from opentelemetry.trace import set_span_in_context

        if self.finished:  # a task the request started outlived it: no span under a closed parent
            return
        started = _now_ns()
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": self.operation,
            "server.address": request.url.host,
            "http.request.method": request.method,
            "modelmux.provider": provider,
        }
        if request.url.port is not None:
            attributes["server.port"] = request.url.port
        span = self._attempt_span(attributes, started)
        self.tracing.propagator.inject(request.headers, context=set_span_in_context(span))
        self.pending.append((provider, span, started))

    def _attempt_span(self, attributes: dict[str, Any], started: int) -> Span:
        from opentelemetry.trace import SpanKind, set_span_in_context

        return self.tracing.tracer.start_span(
            self.operation,
            context=set_span_in_context(self.span),
            kind=SpanKind.CLIENT,
            attributes=attributes,
            start_time=started,
        )

    def finish(self, summary: RequestSummary) -> None:
        """Close the attempt spans (matched to the attempt records in order) and the request span."""
        self.finished = True
        now = _now_ns()
        for record in summary.attempts:
            if self.pending and self.pending[0][0] == record.provider:
                _, span, started = self.pending.pop(0)
            else:  # the attempt failed before its request went out (translation): a span from its record
                started = now - int(record.seconds * 1e9)
                span = self._attempt_span({"modelmux.provider": record.provider}, started)
            self._close_attempt(span, record, min(started + int(record.seconds * 1e9), now))
        for _, span, _ in self.pending:
            span.set_attribute("modelmux.attempt.kind", "unrecorded")
            span.end(end_time=now)
        self.pending.clear()
        self._close_request(summary, now)

    def _close_attempt(self, span: Span, record: AttemptRecord, end: int) -> None:
        from opentelemetry.trace import Status, StatusCode

        span.update_name(f"{self.operation} {record.upstream_model}")
        system = genai_system(record.provider_type)
        span.set_attributes(
            {
                "gen_ai.request.model": record.upstream_model,
                "gen_ai.system": system or "",
                "gen_ai.provider.name": system or "",
                "http.response.status_code": record.status,
                "modelmux.provider": record.provider,
                "modelmux.attempt.kind": record.kind,
            }
        )
        if record.kind != "ok":
            span.set_attribute("error.type", record.kind if record.kind != "status" else str(record.status))
            span.set_status(Status(StatusCode.ERROR))
        span.end(end_time=end)

    def _close_request(self, summary: RequestSummary, now: int) -> None:
        from opentelemetry.trace import Status, StatusCode

        s = summary
        attributes: dict[str, Any] = {
            "http.response.status_code": s.status,
            "modelmux.route": s.route,
            "modelmux.provider": s.provider,
            "modelmux.attempts": len(s.attempts),
            "modelmux.stream": s.stream,
            "modelmux.overhead_ms": round(s.overhead * 1000, 3),
        }
        optional = {
            "gen_ai.system": genai_system(s.provider_type),
            "gen_ai.provider.name": genai_system(s.provider_type),
            "gen_ai.response.model": s.upstream_model,
            "gen_ai.usage.input_tokens": s.input_tokens,
            "gen_ai.usage.output_tokens": s.output_tokens,
            "modelmux.cost_usd": s.cost_usd,
            "modelmux.cache": s.cache,
            "error.type": s.error_code or (str(s.status) if s.status >= 400 else None),
        }
        attributes.update({key: value for key, value in optional.items() if value is not None})
        self.span.set_attributes(attributes)
        if s.status >= 500:
            self.span.set_status(Status(StatusCode.ERROR))
        self.span.end(end_time=now)


def build_tracing(settings: TracingSettings, exporter: SpanExporter | None = None) -> Tracing | None:
    """A `Tracing`, or None (logged once) when the OpenTelemetry SDK is not installed."""
    try:
        return Tracing(settings, exporter)
    except ImportError as exc:
        log.error("observability.tracing is on but OpenTelemetry is not installed (%s); tracing is off", exc.name)
        return None
