"""Fixtures for the observability tests: the e2e gateways, a gateway whose traces go to the SDK's
in-memory exporter, and a parsed `/metrics` scrape."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

from modelmux.observability.telemetry import Telemetry
from modelmux.runtime.holder import PlanHolder
from modelmux.runtime.services import Services
from tests.e2e.conftest import TEST_API_KEY, Gateway, compile_yaml, gateway_for, launch, start_gateway, upstream
from tests.fakes import FakeServer

__all__ = ["gateway_for", "start_gateway", "upstream"]


def serve_with(services: Services, text: str, env: Mapping[str, str], path: Path) -> Gateway:
    """Like the e2e `launch`, with the caller's `Services` (to give it a Telemetry of the test's own)."""
    plan, public = compile_yaml(path, text, {"TEST_API_KEY": TEST_API_KEY, **env})
    services.holder = PlanHolder(None, str(path))
    return launch(plan, public, path, services)


@dataclass
class Traced:
    gateway: Gateway
    spans: InMemorySpanExporter


TracedStarter = Callable[..., Traced]


@pytest.fixture
def traced_gateway(tmp_path: Path) -> Iterator[TracedStarter]:
    """Serve a config (its `${UPSTREAM_URL}` the given upstream) with spans kept in memory."""
    started: list[Gateway] = []

    def start(upstream: FakeServer | None, text: str, env: Mapping[str, str] | None = None) -> Traced:
        exporter = InMemorySpanExporter()
        services = Services(PlanHolder(None), telemetry=Telemetry(span_exporter=exporter))
        extra = {"UPSTREAM_URL": upstream.url} if upstream is not None else {}
        gateway = serve_with(services, text, {**extra, **(env or {})}, tmp_path / f"{len(started)}-modelmux.yaml")
        started.append(gateway)
        return Traced(gateway, exporter)

    yield start
    for gateway in started:
        gateway.stop()
    violations = [line for gateway in started for line in gateway.violations]
    assert not violations, "responses that break OpenAI's schemas:\n" + "\n".join(violations)


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse_metrics(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(url: str) -> Samples:
    with httpx.Client(trust_env=False, timeout=10.0) as client:
        response = client.get(url + "/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse_metrics(response.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample's value; 0 when absent (a counter that never moved)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum over every sample of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, found), v in samples.items() if n == name and wanted <= found)
