"""The observability objects of one serving process, held by `Services` across plan swaps: the
Prometheus metrics and the tracer providers (one per distinct `observability.tracing` setting)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelmux.observability.metrics import Metrics
from modelmux.observability.tracing import Tracing, TracingSettings, build_tracing

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter


class Telemetry:
    def __init__(self, *, span_exporter: SpanExporter | None = None, multiprocess: bool | None = None) -> None:
        """`span_exporter` replaces the OTLP exporter (tests use the SDK's InMemorySpanExporter)."""
        self.metrics = Metrics(multiprocess=multiprocess)
        self.span_exporter = span_exporter
        self._tracing: dict[TracingSettings, Tracing | None] = {}

    def tracing(self, settings: TracingSettings | None) -> Tracing | None:
        """The tracer for these settings (built on first use), or None when tracing is off."""
        if settings is None:
            return None
        if settings not in self._tracing:
            self._tracing[settings] = build_tracing(settings, self.span_exporter)
        return self._tracing[settings]

    def config_reloaded(self, result: str) -> None:
        """Count a config reload: "ok" (a new plan), "unchanged" or "failed"."""
        self.metrics.config_reloaded(result)

    def shutdown(self) -> None:
        """Flush and stop the tracer providers."""
        tracers, self._tracing = [t for t in self._tracing.values() if t is not None], {}
        for tracing in tracers:
            tracing.shutdown()
