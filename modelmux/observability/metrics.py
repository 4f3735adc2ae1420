"""Prometheus metrics of one serving process, and their exposition at `GET /metrics`.

One process: the metrics live in a registry of their own (one per `Telemetry`), so two gateways in one
process never mix counts. Several workers (`modelmux serve --workers N`): the supervisor points
PROMETHEUS_MULTIPROC_DIR at a folder of its own before it starts them; prometheus_client then keeps
every value in a per-process memory-mapped file and a scrape of any worker sums the files of all of
them. Gauges that describe live state (circuit breakers, the plan) use `livemax`: the worst breaker
state any live worker last reported, and the plan every live worker serves; each worker refreshes its
own values when it answers a request or a scrape.

Every label value is bounded (see `summary.Labels`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import values as prometheus_values
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.gc_collector import GCCollector
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from modelmux.observability.summary import CACHE_RESULTS, LIMIT_REASONS, RequestSummary
from modelmux.plan.models import Plan
from modelmux.routing import RuntimeState

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
CIRCUIT_CODES = {"closed": 0, "half_open": 1, "open": 2}
RELOAD_RESULTS = ("ok", "failed", "unchanged")
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
TTFT_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
OVERHEAD_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
PLAN_INFO = "modelmux_plan_info"
CIRCUIT_STATE = "modelmux_circuit_state"

# attribute: (metric name, help, label names[, buckets]); counters get `_total` from prometheus_client.
COUNTERS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "requests": (
        "modelmux_requests",
        "Requests answered, by route, provider, model and status.",
        ("route", "provider", "model", "status"),
    ),
    "tokens": ("modelmux_tokens", "Tokens reported by upstreams.", ("direction", "provider", "model")),
    "cost": ("modelmux_cost_usd", "Estimated spend in US dollars.", ("provider", "model")),
    "retries": ("modelmux_retries", "Upstream attempts after a request's first.", ("provider",)),
    "fallbacks": (
        "modelmux_fallbacks",
        "Attempts on another provider than the previous attempt's.",
        ("from_provider", "to_provider"),
    ),
    "limited": ("modelmux_ratelimit_rejections", "Requests ModelMux itself answered with 429.", ("reason",)),
    "cache": ("modelmux_cache_requests", "Response cache lookups by result.", ("result",)),
    "reloads": ("modelmux_config_reloads", "Config reloads by result.", ("result",)),
}
HISTOGRAMS: dict[str, tuple[str, str, tuple[str, ...], tuple[float, ...]]] = {
    "duration": (
        "modelmux_request_duration_seconds",
        "Whole request time (a stream's until its end).",
        ("provider", "model", "stream"),
        LATENCY_BUCKETS,
    ),
    "upstream": (
        "modelmux_upstream_duration_seconds",
        "Time of each upstream attempt.",
        ("provider", "status_class"),
        LATENCY_BUCKETS,
    ),
    "overhead": (
        "modelmux_overhead_seconds",
        "Time spent in ModelMux itself: request time less upstream time (streams: to the first byte).",
        ("stream",),
        OVERHEAD_BUCKETS,
    ),
    "ttft": (
        "modelmux_time_to_first_token_seconds",
        "Streams: request start to the first chunk.",
        ("provider", "model"),
        TTFT_BUCKETS,
    ),
}
GAUGES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "circuit": (CIRCUIT_STATE, "Circuit breaker per provider: 0 closed, 1 half-open, 2 open.", ("provider",)),
    "plan_info": (PLAN_INFO, "The plan served (1), by fingerprint and generation.", ("fingerprint", "generation")),
}


def multiprocess_mode() -> bool:
    """True when prometheus_client keeps values in PROMETHEUS_MULTIPROC_DIR (decided at its import)."""
    return bool(getattr(prometheus_values.ValueClass, "_multiprocess", False))


class Metrics:
    requests: Counter
    tokens: Counter
    cost: Counter
    retries: Counter
    fallbacks: Counter
    limited: Counter
    cache: Counter
    reloads: Counter
    duration: Histogram
    upstream: Histogram
    overhead: Histogram
    ttft: Histogram
    circuit: Gauge
    plan_info: Gauge

    def __init__(self, *, multiprocess: bool | None = None) -> None:
        self.multiprocess = multiprocess_mode() if multiprocess is None else multiprocess
        self.registry = CollectorRegistry(auto_describe=True)
        if not self.multiprocess:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
            GCCollector(registry=self.registry)
        self._define(self.registry)
        self._plan: tuple[str, str] | None = None
        self._circuits: set[str] = set()

    def _define(self, registry: CollectorRegistry) -> None:
        for attribute, (name, doc, labels) in COUNTERS.items():
            setattr(self, attribute, Counter(name, doc, labels, registry=registry))
        for attribute, (name, doc, labels, buckets) in HISTOGRAMS.items():
            setattr(self, attribute, Histogram(name, doc, labels, registry=registry, buckets=buckets))
        for attribute, (name, doc, labels) in GAUGES.items():
            setattr(self, attribute, Gauge(name, doc, labels, registry=registry, multiprocess_mode="livemax"))
        for result in RELOAD_RESULTS:
            self.reloads.labels(result)
        for result in sorted(CACHE_RESULTS):
            self.cache.labels(result)
        for reason in (*LIMIT_REASONS.values(), "other"):
            self.limited.labels(reason)

    # Per request ---------------------------------------------------------------------------------

    def record(self, summary: RequestSummary) -> None:
        s = summary
        stream = "true" if s.stream else "false"
        self.requests.labels(s.route, s.provider, s.model, str(s.status)).inc()
        self.duration.labels(s.provider, s.model, stream).observe(s.duration)
        self.overhead.labels(stream).observe(s.overhead)
        if s.first_byte is not None:
            self.ttft.labels(s.provider, s.model).observe(s.first_byte)
        previous: str | None = None
        for attempt in s.attempts:
            self.upstream.labels(attempt.provider, f"{attempt.status // 100}xx").observe(attempt.seconds)
            if previous is not None:
                self.retries.labels(attempt.provider).inc()
                if attempt.provider != previous:
                    self.fallbacks.labels(previous, attempt.provider).inc()
            previous = attempt.provider
        if s.input_tokens:
            self.tokens.labels("input", s.provider, s.model).inc(s.input_tokens)
        if s.output_tokens:
            self.tokens.labels("output", s.provider, s.model).inc(s.output_tokens)
        if s.cost_usd:
            self.cost.labels(s.provider, s.model).inc(s.cost_usd)
        if s.limited is not None:
            self.limited.labels(s.limited).inc()
        if s.cache is not None:
            self.cache.labels(s.cache).inc()

    def config_reloaded(self, result: str) -> None:
        self.reloads.labels(result).inc()

    # Live state ----------------------------------------------------------------------------------

    def refresh(
        self, plan: Plan | None, generation: int, state: RuntimeState, only: Iterable[str] | None = None
    ) -> None:
        """Set the plan and circuit gauges from this process's state (all providers, or `only` these)."""
        self._set_plan(plan, generation)
        names = [p.name for p in plan.providers] if plan is not None else []
        for name in names if only is None else [n for n in only if plan and n in plan.provider_index]:
            runtime = state.get(name)
            self.circuit.labels(name).set(CIRCUIT_CODES[runtime.breaker_state().value] if runtime else 0)
            self._circuits.add(name)
        for gone in self._circuits - set(names):
            self.circuit.labels(gone).set(0)
            self.circuit.remove(gone)
            self._circuits.discard(gone)

    def _set_plan(self, plan: Plan | None, generation: int) -> None:
        current = (plan.fingerprint, str(generation)) if plan is not None else None
        if current == self._plan:
            return
        if self._plan is not None:
            self.plan_info.labels(*self._plan).set(0)
            self.plan_info.remove(*self._plan)
        if current is not None:
            self.plan_info.labels(*current).set(1)
        self._plan = current

    def scrape(self, plan: Plan | None, generation: int, state: RuntimeState) -> bytes:
        """The Prometheus text exposition: this process's registry, or every worker's files."""
        self.refresh(plan, generation, state)
        if not self.multiprocess:
            return generate_latest(self.registry)
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_CurrentOnly(MultiProcessCollector(None), plan))  # type: ignore[no-untyped-call]
        return generate_latest(registry)


class _CurrentOnly(Collector):
    """Workers' files, less what no live plan claims any more: a replaced plan's info (0) and circuits of
    providers the current plan no longer has."""

    def __init__(self, inner: MultiProcessCollector, plan: Plan | None) -> None:
        self.inner = inner
        self.providers = frozenset(plan.provider_index) if plan is not None else frozenset()

    def collect(self) -> Iterator[Metric]:
        for metric in self.inner.collect():  # type: ignore[no-untyped-call]
            if metric.name == PLAN_INFO:
                metric.samples = [s for s in metric.samples if s.value > 0]
            elif metric.name == CIRCUIT_STATE:
                metric.samples = [s for s in metric.samples if s.labels.get("provider") in self.providers]
            yield metric

    def describe(self) -> list[Any]:
        return []
