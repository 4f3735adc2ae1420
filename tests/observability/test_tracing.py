"""OpenTelemetry spans of a request and its upstream attempts, and W3C trace context from the client to
the upstream."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from modelmux.observability.tracing import Tracing, TracingSettings, traces_url
from tests.e2e.conftest import USER_HI, stream_raw
from tests.fakes import FakeServer, Reply
from tests.fakes import anthropic_like as an
from tests.fakes import openai_like as oa
from tests.observability.conftest import TracedStarter

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{CLIENT_SPAN}-01"
CONFIG = """
version: 1
providers:
  - name: first
    type: openai
    api_key: ${TEST_API_KEY}
    base_url: ${UPSTREAM_URL}/a/v1
    models: ["gpt-4o"]
  - name: second
    type: anthropic
    api_key: ${TEST_API_KEY}
    base_url: ${UPSTREAM_URL}/b
    models: {"gpt-4o": "claude-3-5-sonnet-20241022"}
routing:
  fallback: {enabled: true, max_retries: 1, backoff: constant, initial_delay: 1ms}
observability:
  tracing: {enabled: true, service_name: modelmux-test, sample_ratio: 1.0}
"""
FIRST, SECOND = "/a/v1/chat/completions", "/b/v1/messages"
ANTHROPIC_REPLY = an.message("from claude", model="claude-3-5-sonnet-20241022", usage_=an.usage(12, 5))


def spans_by_kind(spans: tuple[ReadableSpan, ...], kind: SpanKind) -> list[ReadableSpan]:
    return sorted((s for s in spans if s.kind is kind), key=lambda s: s.start_time or 0)


def traceparent_of(span: ReadableSpan) -> tuple[str, str]:
    assert span.context is not None
    return f"{span.context.trace_id:032x}", f"{span.context.span_id:016x}"


def wait_for_spans(exporter: object, count: int) -> tuple[ReadableSpan, ...]:
    """Spans end when the response is complete; the client may read it a moment before (bounded wait)."""
    deadline = time.monotonic() + 10
    while True:
        spans: tuple[ReadableSpan, ...] = exporter.get_finished_spans()  # type: ignore[attr-defined]
        if len(spans) >= count or time.monotonic() > deadline:
            return spans
        time.sleep(0.01)


def test_request_and_attempt_spans_join_the_clients_trace(traced_gateway: TracedStarter, upstream: FakeServer) -> None:
    upstream.script("POST", FIRST, Reply.json(oa.error_body("overloaded", "server_error"), status=503))
    upstream.script("POST", SECOND, Reply.json(ANTHROPIC_REPLY))
    traced = traced_gateway(upstream, CONFIG)
    response = traced.gateway.http().post(
        "/v1/chat/completions",
        json={"model": "gpt-4o", "messages": USER_HI, "max_tokens": 50},
        headers={"traceparent": TRACEPARENT},
    )
    assert response.status_code == 200, response.text
    spans = wait_for_spans(traced.spans, 3)
    (server,) = spans_by_kind(spans, SpanKind.SERVER)
    first, second = spans_by_kind(spans, SpanKind.CLIENT)
    assert server.name == "chat gpt-4o"
    assert traceparent_of(server)[0] == TRACE_ID
    assert server.parent is not None and f"{server.parent.span_id:016x}" == CLIENT_SPAN and server.parent.is_remote
    for attempt in (first, second):
        assert attempt.parent is not None and attempt.parent.span_id == server.context.span_id  # type: ignore[union-attr]
        assert traceparent_of(attempt)[0] == TRACE_ID
    assert server.attributes is not None and first.attributes is not None and second.attributes is not None
    assert server.attributes["gen_ai.operation.name"] == "chat"
    assert server.attributes["gen_ai.request.model"] == "gpt-4o"
    assert server.attributes["gen_ai.request.max_tokens"] == 50
    assert server.attributes["gen_ai.response.model"] == "claude-3-5-sonnet-20241022"
    assert server.attributes["gen_ai.system"] == "anthropic"
    assert server.attributes["gen_ai.usage.input_tokens"] == 12
    assert server.attributes["gen_ai.usage.output_tokens"] == 5
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes["modelmux.attempts"] == 2
    assert server.status.status_code is StatusCode.UNSET
    assert first.name == "chat gpt-4o" and second.name == "chat claude-3-5-sonnet-20241022"
    assert first.attributes["gen_ai.system"] == "openai"
    assert first.attributes["server.address"] == "127.0.0.1"
    assert first.attributes["server.port"] == upstream.port
    assert first.attributes["http.response.status_code"] == 503
    assert first.attributes["error.type"] == "503"
    assert first.status.status_code is StatusCode.ERROR
    assert second.attributes["http.response.status_code"] == 200
    assert second.attributes["gen_ai.request.model"] == "claude-3-5-sonnet-20241022"
    assert server.start_time is not None and first.start_time is not None and second.end_time is not None
    assert server.start_time <= first.start_time and server.end_time is not None
    assert second.end_time <= server.end_time


def test_upstream_requests_carry_their_attempts_traceparent(
    traced_gateway: TracedStarter, upstream: FakeServer
) -> None:
    upstream.script("POST", FIRST, Reply.json(oa.error_body("overloaded", "server_error"), status=503))
    upstream.script("POST", SECOND, Reply.json(ANTHROPIC_REPLY))
    traced = traced_gateway(upstream, CONFIG)
    headers = {"traceparent": TRACEPARENT}
    http = traced.gateway.http()
    assert http.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": USER_HI}, headers=headers).is_success
    first, second = spans_by_kind(wait_for_spans(traced.spans, 3), SpanKind.CLIENT)
    for path, span in ((FIRST, first), (SECOND, second)):
        (sent,) = upstream.requests_to(path)
        trace_id, span_id = traceparent_of(span)
        assert sent.header("traceparent") == f"00-{trace_id}-{span_id}-01"
        assert trace_id == TRACE_ID


def test_a_request_without_traceparent_starts_a_trace(traced_gateway: TracedStarter, upstream: FakeServer) -> None:
    upstream.script("POST", FIRST, Reply.json(oa.chat_completion("hi")))
    traced = traced_gateway(upstream, CONFIG)
    assert traced.gateway.http().post("/v1/chat/completions", json={"model": "gpt-4o", "messages": USER_HI}).is_success
    spans = wait_for_spans(traced.spans, 2)
    (server,) = spans_by_kind(spans, SpanKind.SERVER)
    assert server.parent is None
    (sent,) = upstream.requests_to(FIRST)
    assert (sent.header("traceparent") or "").split("-")[1] == traceparent_of(server)[0]


def test_a_stream_span_ends_with_the_stream(traced_gateway: TracedStarter, upstream: FakeServer) -> None:
    chunks = oa.text_chunks(("a", "b"), include_usage=True, usage_=oa.usage(7, 3))
    upstream.script("POST", FIRST, Reply.sse([oa.sse_body(chunks)]))
    traced = traced_gateway(upstream, CONFIG)
    raw = stream_raw(traced.gateway, {"model": "gpt-4o", "messages": USER_HI}, headers={"traceparent": TRACEPARENT})
    assert raw.done
    spans = wait_for_spans(traced.spans, 2)
    (server,) = spans_by_kind(spans, SpanKind.SERVER)
    (attempt,) = spans_by_kind(spans, SpanKind.CLIENT)
    assert server.attributes is not None and attempt.attributes is not None
    assert server.attributes["modelmux.stream"] is True
    assert server.attributes["gen_ai.usage.output_tokens"] == 3
    assert attempt.attributes["modelmux.attempt.kind"] == "ok"


def test_an_error_span_has_no_attempts_and_names_the_error(traced_gateway: TracedStarter) -> None:
    traced = traced_gateway(None, CONFIG.replace("${UPSTREAM_URL}", "http://127.0.0.1:9"))
    response = traced.gateway.http().post("/v1/chat/completions", json={"model": "nope", "messages": USER_HI})
    assert response.status_code == 404
    (server,) = wait_for_spans(traced.spans, 1)
    assert server.name == "chat nope" and server.attributes is not None
    assert server.attributes["http.response.status_code"] == 404
    assert server.attributes["error.type"] == "model_not_found"
    assert server.status.status_code is StatusCode.UNSET  # a 4xx is the client's error, not the server span's


def test_an_unsampled_trace_still_reaches_the_upstream(traced_gateway: TracedStarter, upstream: FakeServer) -> None:
    upstream.script("POST", FIRST, Reply.json(oa.chat_completion("hi")))
    traced = traced_gateway(upstream, CONFIG.replace("sample_ratio: 1.0", "sample_ratio: 0.0"))
    assert traced.gateway.http().post("/v1/chat/completions", json={"model": "gpt-4o", "messages": USER_HI}).is_success
    assert traced.spans.get_finished_spans() == ()
    (sent,) = upstream.requests_to(FIRST)
    flags = (sent.header("traceparent") or "-").rsplit("-", 1)[1]
    assert int(flags, 16) & 1 == 0, "the sampled flag is off"


def test_without_tracing_nothing_is_propagated(traced_gateway: TracedStarter, upstream: FakeServer) -> None:
    upstream.script("POST", FIRST, Reply.json(oa.chat_completion("hi")))
    untraced = CONFIG.replace("  tracing: {enabled: true,", "  tracing: {enabled: false,")
    traced = traced_gateway(upstream, untraced)
    http = traced.gateway.http()
    response = http.post(
        "/v1/chat/completions", json={"model": "gpt-4o", "messages": USER_HI}, headers={"traceparent": TRACEPARENT}
    )
    assert response.is_success
    assert upstream.requests_to(FIRST)[0].header("traceparent") is None
    assert traced.spans.get_finished_spans() == ()


def test_spans_are_exported_over_otlp_http(upstream: FakeServer) -> None:
    upstream.script("POST", "/v1/traces", Reply(status=200, headers=(("content-type", "application/x-protobuf"),)))
    tracing = Tracing(TracingSettings(True, upstream.url, 1.0, "modelmux-otlp"))
    try:
        tracing.tracer.start_span("chat gpt-4o").end()
        assert tracing.provider.force_flush(10_000)
    finally:
        tracing.shutdown()
    (sent,) = upstream.requests_to("/v1/traces")
    assert sent.header("content-type") == "application/x-protobuf"
    assert b"modelmux-otlp" in sent.body and b"chat gpt-4o" in sent.body


@pytest.mark.parametrize(
    ("endpoint", "url"),
    [
        ("http://collector:4318", "http://collector:4318/v1/traces"),
        ("http://collector:4318/", "http://collector:4318/v1/traces"),
        ("https://otel.example/custom/path", "https://otel.example/custom/path"),
    ],
)
def test_the_otlp_endpoint_gets_the_traces_path(endpoint: str, url: str) -> None:
    assert traces_url(endpoint) == url


def test_validate_and_an_untraced_server_never_import_opentelemetry(tmp_path: Path) -> None:
    """`validate` loads neither OpenTelemetry nor prometheus_client; a server without tracing does not load
    the tracing SDK or an exporter (the redis client may load OpenTelemetry's API for its own metrics)."""
    config = Path(__file__).resolve().parents[2] / "configs" / "demo.yaml"
    program = f"""
import sys
from modelmux.cli.app import app
try:
    app(["validate", {str(config)!r}])
except SystemExit:
    pass
print(sorted({{m.split(".")[0] for m in sys.modules if m.startswith(("opentelemetry", "prometheus_client"))}}))
print(sorted(m for m in sys.modules if m.startswith("modelmux.observability")))
from modelmux.compiler.compile import compile_file
from modelmux.runtime.app import create_app
result = compile_file({str(config)!r}, {{}})
create_app(result.plan, public=result.public)
print(sorted(m for m in sys.modules if m.startswith(("opentelemetry.sdk.trace", "opentelemetry.exporter"))))
"""
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True, cwd=tmp_path)
    validate_imports, validate_observability, serve_imports = done.stdout.strip().splitlines()[-3:]
    assert validate_imports == "[]"
    assert validate_observability == "[]"
    assert serve_imports == "[]"
