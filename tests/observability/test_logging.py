"""Structured logs: one access line per request, debug bodies, and no secret or personal data in any line."""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from modelmux.observability.logging import ACCESS, BODIES, TextFormatter, configure_logging
from tests.e2e.conftest import TEST_API_KEY, USER_HI, DisconnectWatcher, GatewayFor, GatewayStarter, stream_raw
from tests.fakes import FakeServer, Reply
from tests.fakes import openai_like as oa

CLIENT_TOKEN = "client-bearer-token-7Hq2Lm9Zx4"
EMAIL = "jane.doe@example.com"
PHONE = "+1 (415) 555-0134"
CARD = "4111 1111 1111 1111"
ANSWER_EMAIL = "bob.smith@example.org"
CONFIG = """
version: 1
providers:
  - name: first
    type: openai
    api_key: ${TEST_API_KEY}
    base_url: ${UPSTREAM_URL}/v1
    models: ["gpt-4o"]
observability:
  logging: {format: json, level: debug, access_log: true, debug_bodies: true}
"""
SECRETS = (TEST_API_KEY, CLIENT_TOKEN, EMAIL, PHONE, "415) 555-0134", "555-0134", CARD, ANSWER_EMAIL)


class Lines:
    """What the configured handler wrote, one parsed JSON object a line."""

    def __init__(self, buffer: io.StringIO) -> None:
        self.buffer = buffer

    def raw(self) -> list[str]:
        return [line for line in self.buffer.getvalue().splitlines() if line]

    def parsed(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in self.raw()]

    def of(self, logger: str) -> list[dict[str, Any]]:
        return [line for line in self.parsed() if line["logger"] == logger]

    def wait_for(self, logger: str, count: int) -> list[dict[str, Any]]:
        """Stream lines are written when the stream ends, a moment after the client read its end."""
        deadline = time.monotonic() + 10
        while len(self.of(logger)) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.of(logger)


@pytest.fixture
def lines() -> Iterator[Lines]:
    """`configure_logging` as `modelmux serve` runs it, into a buffer; the root logger restored after."""
    root = logging.getLogger()
    saved = (root.level, ACCESS.level, BODIES.level)
    buffer = io.StringIO()
    handler = configure_logging({"format": "json", "level": "debug"}, stream=buffer)
    try:
        yield Lines(buffer)
    finally:
        root.removeHandler(handler)
        root.setLevel(saved[0])
        ACCESS.setLevel(saved[1])
        BODIES.setLevel(saved[2])


def personal_body(stream: bool = False) -> dict[str, Any]:
    text = f"I am {EMAIL}, call {PHONE}, card {CARD}, my key {TEST_API_KEY} and token {CLIENT_TOKEN}."
    return {"model": "gpt-4o", "messages": [{"role": "user", "content": text}], "stream": stream}


def test_no_secret_or_personal_data_reaches_any_line(
    lines: Lines, gateway_for: GatewayFor, upstream: FakeServer
) -> None:
    answer = f"Write to {ANSWER_EMAIL} or call {PHONE}."
    chunks = oa.text_chunks((answer[:10], answer[10:]), include_usage=True)
    upstream.script("POST", "/v1/chat/completions", Reply.json(oa.chat_completion(answer)))
    gateway = gateway_for(upstream, CONFIG)
    headers = {"authorization": f"Bearer {CLIENT_TOKEN}", "x-request-id": "req-log-1"}
    response = gateway.http().post("/v1/chat/completions", json=personal_body(), headers=headers)
    assert response.status_code == 200
    upstream.reset()
    upstream.script("POST", "/v1/chat/completions", Reply.sse([oa.sse_body(chunks)]))
    assert stream_raw(gateway, personal_body(stream=True), headers={**headers, "x-request-id": "req-log-2"}).done
    bodies = lines.wait_for("modelmux.bodies", 4)
    access = lines.wait_for("modelmux.access", 2)
    assert len(access) == 2 and len(bodies) == 4
    everything = "\n".join(lines.raw())
    leaked = [secret for secret in SECRETS if secret in everything]
    assert not leaked, f"log lines carry {leaked}"
    request_body = next(b for b in bodies if b["message"] == "request body" and b["request_id"] == "req-log-1")
    content = request_body["body"]["messages"][0]["content"]
    assert "[REDACTED:email]" in content and "[REDACTED:card]" in content and "[REDACTED:phone]" in content
    streamed = next(b for b in bodies if b["message"] == "response body" and b["request_id"] == "req-log-2")
    assert streamed["content"] == "Write to [REDACTED:email] or call [REDACTED:phone]."


def test_the_access_line_has_every_field(lines: Lines, gateway_for: GatewayFor, upstream: FakeServer) -> None:
    upstream.script("POST", "/v1/chat/completions", Reply.json(oa.chat_completion("hi", usage_=oa.usage(19, 10))))
    gateway = gateway_for(upstream, CONFIG)
    http = gateway.http()
    assert http.post(
        "/v1/chat/completions", json={"model": "gpt-4o", "messages": USER_HI}, headers={"x-request-id": "req-a"}
    ).is_success
    assert (
        http.post(
            "/v1/chat/completions", json={"model": "nope", "messages": USER_HI}, headers={"x-request-id": "req-b"}
        ).status_code
        == 404
    )
    ok, missing = lines.wait_for("modelmux.access", 2)
    assert ok["request_id"] == "req-a" and ok["level"] == "info" and ok["message"] == "request"
    assert ok["route"] == "default" and ok["provider"] == "first" and ok["model"] == "gpt-4o"
    assert ok["status"] == 200 and ok["attempts"] == 1 and ok["attempt_log"] == ["first:200:ok"]
    assert ok["input_tokens"] == 19 and ok["output_tokens"] == 10 and ok["cost_usd"] > 0
    assert ok["stream"] is False and ok["error_code"] is None and ok["cache"] is None
    assert ok["latency_ms"] >= ok["overhead_ms"] >= 0 and ok["ttft_ms"] is None
    assert missing["request_id"] == "req-b" and missing["status"] == 404 and missing["error_code"] == "model_not_found"
    assert missing["attempts"] == 0 and missing["route"] == "none"


def test_access_log_and_bodies_can_be_off(lines: Lines, gateway_for: GatewayFor, upstream: FakeServer) -> None:
    upstream.script("POST", "/v1/chat/completions", Reply.json(oa.chat_completion("hi")))
    quiet = CONFIG.replace("access_log: true, debug_bodies: true", "access_log: false, debug_bodies: false")
    gateway = gateway_for(upstream, quiet)
    assert gateway.http().post("/v1/chat/completions", json={"model": "gpt-4o", "messages": USER_HI}).is_success
    assert lines.of("modelmux.access") == [] and lines.of("modelmux.bodies") == []


def test_nothing_is_built_when_the_access_logger_is_off(
    gateway_for: GatewayFor, upstream: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[object] = []
    monkeypatch.setattr("modelmux.observability.logging.access_fields", lambda summary: built.append(summary))
    upstream.script("POST", "/v1/chat/completions", Reply.json(oa.chat_completion("hi")))
    ACCESS.setLevel(logging.WARNING)
    try:
        gateway = gateway_for(upstream, CONFIG)
        assert gateway.http().post("/v1/chat/completions", json={"model": "gpt-4o", "messages": USER_HI}).is_success
    finally:
        ACCESS.setLevel(logging.NOTSET)
    assert built == []


def test_configure_logging_replaces_its_own_handler_and_sets_levels() -> None:
    root = logging.getLogger()
    saved = root.level
    first = configure_logging({"format": "text", "level": "warning"}, stream=io.StringIO())
    second = configure_logging({"format": "json", "level": "error"}, stream=io.StringIO())
    try:
        assert first not in root.handlers and second in root.handlers
        assert root.level == logging.ERROR
        assert ACCESS.level == logging.INFO and BODIES.level == logging.DEBUG
        assert logging.getLogger("httpx").level == logging.WARNING
    finally:
        root.removeHandler(second)
        root.setLevel(saved)
        ACCESS.setLevel(logging.NOTSET)
        BODIES.setLevel(logging.NOTSET)


def test_text_lines_carry_the_fields_and_scrub_messages() -> None:
    record = logging.LogRecord("modelmux.access", logging.INFO, __file__, 1, "from %s", (EMAIL,), None)
    record.fields = {"request_id": "r1", "status": 200, "stream": False, "cache": None, "route": "a b"}
    line = TextFormatter().format(record)
    assert EMAIL not in line
    assert line.endswith('from [REDACTED:email] request_id=r1 status=200 stream=false route="a b"')


def test_a_stream_the_client_leaves_is_logged_as_499_and_closes_the_upstream(
    lines: Lines, start_gateway: GatewayStarter
) -> None:
    first = oa.sse_body([oa.chunk({"role": "assistant", "content": f"Once upon {EMAIL}"})], done=False)
    with DisconnectWatcher(first) as watched:
        gateway = start_gateway(CONFIG.replace("${UPSTREAM_URL}", "${WATCHED_URL}"), {"WATCHED_URL": watched.url})
        body = {"model": "gpt-4o", "messages": USER_HI, "stream": True}
        with (
            httpx.Client(timeout=10, trust_env=False) as client,
            client.stream("POST", gateway.v1 + "/chat/completions", json=body) as response,
        ):
            assert b"Once upon" in next(response.iter_raw())
        assert watched.closed.wait(10), "the upstream request outlived the client (debug bodies on)"
    (access,) = lines.wait_for("modelmux.access", 1)
    assert access["status"] == 499 and access["error_code"] == "client_closed"
    streamed = next(b for b in lines.wait_for("modelmux.bodies", 2) if b["message"] == "response body")
    assert streamed["content"] == "Once upon [REDACTED:email]"
