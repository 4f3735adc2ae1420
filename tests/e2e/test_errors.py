"""Every failure reaches the OpenAI SDK in OpenAI's error shape, with a faithful status and message."""

from __future__ import annotations

import socket

import httpx
import openai
import pytest

from tests.e2e.conftest import (
    USER_HI,
    Gateway,
    GatewayFor,
    GatewayStarter,
    assert_error_response,
    free_port,
)
from tests.fakes import FakeServer, Reply
from tests.fakes import anthropic_like as an
from tests.fakes import openai_like as oa

CONFIG = """
version: 1
server:
  max_body_size: 4KB
providers:
  - name: openai-main
    type: openai
    api_key: ${TEST_API_KEY}
    base_url: ${UPSTREAM_URL}/v1
    timeout: 600ms
    models: ["gpt-4o", "text-embedding-3-small"]
  - name: claude
    type: anthropic
    api_key: ${TEST_API_KEY}
    base_url: ${UPSTREAM_URL}
    models: ["claude-sonnet"]
"""
CHAT = "/v1/chat/completions"


@pytest.fixture
def gateway(gateway_for: GatewayFor, upstream: FakeServer) -> Gateway:
    return gateway_for(upstream, CONFIG)


def test_unknown_model_is_404_model_not_found(gateway: Gateway, upstream: FakeServer) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        gateway.client().chat.completions.create(model="gpt-9-turbo", messages=USER_HI)
    assert caught.value.code == "model_not_found"
    assert caught.value.param == "model"
    assert "gpt-9-turbo" in caught.value.message
    error = assert_error_response(caught.value.response, 404, code="model_not_found")
    assert error["type"] == "invalid_request_error"
    assert caught.value.response.headers["x-modelmux-attempts"] == "0"
    with pytest.raises(openai.NotFoundError):
        gateway.client().chat.completions.create(model="gpt-9-turbo", messages=USER_HI, stream=True)
    with pytest.raises(openai.NotFoundError):
        gateway.client().embeddings.create(model="gpt-9-turbo", input="x")
    with pytest.raises(openai.NotFoundError):
        gateway.client().models.retrieve("gpt-9-turbo")
    assert upstream.requests == []


@pytest.mark.parametrize(
    ("raw", "phrase"),
    [
        (b'{"model": "gpt-4o", "messages": [', "not valid JSON"),
        (b"", "empty"),
        (b'["model", "gpt-4o"]', "JSON object"),
        (b"\xff\xfe{}", "not valid JSON"),
        (b'{"model": "gpt-4o", "messages": ' + b"[" * 80 + b"]" * 80 + b"}", "nested deeper"),
    ],
)
def test_malformed_json_is_400(gateway: Gateway, upstream: FakeServer, raw: bytes, phrase: str) -> None:
    response = gateway.http().post(CHAT, content=raw, headers={"content-type": "application/json"})
    error = assert_error_response(response, 400)
    assert error["type"] == "invalid_request_error"
    assert phrase in error["message"]
    assert upstream.requests == []


@pytest.mark.parametrize(
    ("request_body", "param"),
    [
        ({"messages": USER_HI}, "model"),
        ({"model": "gpt-4o"}, "messages"),
        ({"model": "gpt-4o", "messages": []}, "messages"),
        ({"model": "gpt-4o", "messages": [{"role": "wizard", "content": "hi"}]}, "messages.[0].role"),
        ({"model": "gpt-4o", "messages": [*USER_HI, {"role": "user"}]}, "messages.[1].content"),
        ({"model": "gpt-4o", "messages": [{"role": "tool", "content": "42"}]}, "messages.[0].tool_call_id"),
        ({"model": "gpt-4o", "messages": USER_HI, "temperature": 3}, "temperature"),
        ({"model": "gpt-4o", "messages": USER_HI, "max_tokens": "many"}, "max_tokens"),
        ({"model": "gpt-4o", "messages": USER_HI, "stream": "yes"}, "stream"),
        ({"model": "gpt-4o", "messages": USER_HI, "stream_options": {"include_usage": True}}, "stream_options"),
        ({"model": "gpt-4o", "messages": USER_HI, "tools": [{"type": "function"}]}, "tools.[0].function.name"),
    ],
)
def test_schema_invalid_request_is_400_with_param(
    gateway: Gateway, upstream: FakeServer, request_body: dict[str, object], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        gateway.client().post("/chat/completions", body=request_body, cast_to=object)
    assert caught.value.param == param
    assert_error_response(caught.value.response, 400)
    assert upstream.requests == []


def test_invalid_embeddings_input_is_400(gateway: Gateway) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        gateway.client().post("/embeddings", body={"model": "text-embedding-3-small", "input": 7}, cast_to=object)
    assert caught.value.param == "input"


UPSTREAM_STATUSES = [
    (400, openai.BadRequestError, "invalid_request_error"),
    (401, openai.AuthenticationError, "invalid_request_error"),
    (403, openai.PermissionDeniedError, "permission_error"),
    (404, openai.NotFoundError, "invalid_request_error"),
    (413, openai.APIStatusError, "invalid_request_error"),
    (429, openai.RateLimitError, "requests"),
    (500, openai.InternalServerError, "server_error"),
    (502, openai.InternalServerError, "server_error"),
    (503, openai.InternalServerError, "server_error"),
    (529, openai.InternalServerError, "server_error"),
]


@pytest.mark.parametrize(("status", "exception", "kind"), UPSTREAM_STATUSES)
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_upstream_status_passes_through(
    gateway: Gateway,
    upstream: FakeServer,
    status: int,
    exception: type[openai.APIStatusError],
    kind: str,
    stream: bool,
) -> None:
    message = f"upstream says no ({status})"
    upstream.script("POST", CHAT, Reply.json(oa.error_body(message, kind, None, f"code_{status}"), status=status))
    with pytest.raises(exception) as caught:
        gateway.client().chat.completions.create(model="gpt-4o", messages=USER_HI, stream=stream)
    assert type(caught.value) is exception
    assert caught.value.status_code == status
    assert message in caught.value.message
    assert caught.value.code == f"code_{status}"
    error = assert_error_response(caught.value.response, status)
    assert (error["message"], error["type"]) == (message, kind)
    assert caught.value.response.headers["x-modelmux-provider"] == "openai-main"
    assert len(upstream.requests) == 1


def test_upstream_html_error_page_keeps_its_status(gateway: Gateway, upstream: FakeServer) -> None:
    page = "<html><head><title>502 Bad Gateway</title></head><body><h1>nginx</h1></body></html>"
    upstream.script("POST", CHAT, Reply.text(page, status=502, content_type="text/html"))
    with pytest.raises(openai.InternalServerError) as caught:
        gateway.client().chat.completions.create(model="gpt-4o", messages=USER_HI)
    assert caught.value.status_code == 502
    assert "502 Bad Gateway" in caught.value.message
    assert_error_response(caught.value.response, 502)


def test_anthropic_529_keeps_its_status(gateway: Gateway, upstream: FakeServer) -> None:
    upstream.script("POST", "/v1/messages", Reply.json(an.error_for(529), status=529))
    with pytest.raises(openai.APIStatusError) as caught:
        gateway.client().chat.completions.create(model="claude-sonnet", messages=USER_HI)
    assert caught.value.status_code == 529
    assert assert_error_response(caught.value.response, 529)["message"] == "Overloaded"


def test_upstream_timeout_is_504(gateway: Gateway, upstream: FakeServer) -> None:
    upstream.script("POST", CHAT, Reply.hang())
    with pytest.raises(openai.InternalServerError) as caught:
        gateway.client().chat.completions.create(model="gpt-4o", messages=USER_HI)
    assert caught.value.status_code == 504
    assert caught.value.code == "upstream_timeout"
    assert "openai-main" in caught.value.message
    assert_error_response(caught.value.response, 504)


def test_upstream_timeout_before_a_stream_starts_is_504(gateway: Gateway, upstream: FakeServer) -> None:
    upstream.script("POST", CHAT, Reply.hang())
    with pytest.raises(openai.APIStatusError) as caught:
        gateway.client().chat.completions.create(model="gpt-4o", messages=USER_HI, stream=True)
    assert caught.value.status_code == 504


def test_connection_refused_is_502(start_gateway: GatewayStarter) -> None:
    gateway = start_gateway(
        """
version: 1
providers:
  - name: nobody-home
    type: openai
    api_key: ${TEST_API_KEY}
    base_url: http://127.0.0.1:${PORT}/v1
""",
        {"PORT": str(free_port())},
    )
    with pytest.raises(openai.InternalServerError) as caught:
        gateway.client().chat.completions.create(model="gpt-4o", messages=USER_HI)
    assert caught.value.status_code == 502
    assert caught.value.code == "upstream_unreachable"
    assert "nobody-home" in caught.value.message
    assert_error_response(caught.value.response, 502)
    assert caught.value.response.headers["x-modelmux-provider"] == "nobody-home"


def test_connection_reset_is_502(gateway: Gateway, upstream: FakeServer) -> None:
    upstream.script("POST", CHAT, Reply.reset())
    with pytest.raises(openai.InternalServerError) as caught:
        gateway.client().chat.completions.create(model="gpt-4o", messages=USER_HI)
    assert caught.value.status_code == 502


def test_body_over_the_limit_is_413(gateway: Gateway, upstream: FakeServer) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        gateway.client().chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x" * 5000}])
    assert caught.value.status_code == 413
    assert_error_response(caught.value.response, 413, code="request_too_large")
    assert upstream.requests == []


def test_chunked_body_over_the_limit_is_refused_before_it_ends(gateway: Gateway, upstream: FakeServer) -> None:
    port = httpx.URL(gateway.url).port
    assert port is not None
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    piece = b'{"model": "gpt-4o", "messages": [' + b" " * 5000
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head + b"%x\r\n%b\r\n" % (len(piece), piece))  # and the body never ends
        reply = b""
        try:
            while b"request_too_large" not in reply and (data := sock.recv(65536)):
                reply += data
        except TimeoutError:
            pytest.fail(f"a body over max_body_size was buffered instead of refused: {reply!r}")
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert b"request_too_large" in reply
    assert upstream.requests == []


def test_unknown_endpoint_and_method(gateway: Gateway) -> None:
    client = gateway.http()
    assert_error_response(client.post("/v1/completions/legacy", json={}), 404)
    assert_error_response(client.get("/v1/chat/completions"), 405)


def test_embeddings_on_a_provider_without_them_is_400(gateway: Gateway, upstream: FakeServer) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        gateway.client().embeddings.create(model="claude-sonnet", input="hello")
    assert caught.value.code == "unsupported_operation"
    assert upstream.requests == []


def test_after_an_upstream_429_the_cool_down_answers_429(gateway: Gateway, upstream: FakeServer) -> None:
    body, headers = oa.rate_limit_error(retry_after="20")
    upstream.script("POST", CHAT, Reply.json(body, status=429, headers=headers))
    sdk = gateway.client()
    with pytest.raises(openai.RateLimitError) as first:
        sdk.chat.completions.create(model="gpt-4o", messages=USER_HI)
    assert first.value.response.headers["retry-after"] == "20", "the upstream's Retry-After is passed on"
    with pytest.raises(openai.RateLimitError) as caught:
        sdk.chat.completions.create(model="gpt-4o", messages=USER_HI)
    assert caught.value.response.headers["retry-after"] in {"19", "20"}
    assert_error_response(caught.value.response, 429)
    assert len(upstream.requests) == 1, "a provider that said Retry-After: 20 was called again"
