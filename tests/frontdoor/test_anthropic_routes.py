"""The `/v1/messages` routes: credentials, headers, the stream's life and the checks the tests rely on."""

from __future__ import annotations

import anthropic
import httpx
import orjson
import pytest

from tests.e2e.conftest import DisconnectWatcher, GatewayFor, GatewayStarter
from tests.fakes import FakeServer, Reply
from tests.fakes import openai_like as oa
from tests.frontdoor.conftest import ClientFor, raw_post, response_problems

WATCHED = """
version: 1
providers:
  - name: watched
    type: openai
    api_key: ${TEST_API_KEY}
    base_url: ${WATCHED_URL}/v1
    models: ["claude-house"]
"""
CONFIG = WATCHED.replace("${WATCHED_URL}", "${UPSTREAM_URL}")
BODY = {"model": "claude-house", "max_tokens": 20, "messages": [{"role": "user", "content": "Tell a story."}]}
DISCONNECT_BOUND = 2.0  # seconds: a generous upper bound for "the upstream request is cancelled at once"


AUTH = """
version: 1
auth:
  api_keys:
    - name: team-a
      key: sk-team-a-0123456789abcdef
providers:
  - name: canned
    type: mock
    models: ["claude-house"]
    response: "Hello there"
"""


def test_x_api_key_is_the_credential(start_gateway: GatewayStarter, anthropic_client: ClientFor) -> None:
    gateway = start_gateway(AUTH)
    client = anthropic_client(gateway, api_key="sk-team-a-0123456789abcdef")
    message = client.messages.create(model="claude-house", max_tokens=10, messages=BODY["messages"])
    assert message.content[0].text == "Hello there"
    assert client.messages.count_tokens(model="claude-house", messages=BODY["messages"]).input_tokens > 0
    stranger = anthropic_client(gateway, api_key="sk-wrong")
    with pytest.raises(anthropic.AuthenticationError) as caught:
        stranger.messages.create(model="claude-house", max_tokens=10, messages=BODY["messages"])
    assert caught.value.type == "authentication_error"
    assert "sk-wrong" not in caught.value.response.text
    with pytest.raises(anthropic.AuthenticationError):
        stranger.messages.count_tokens(model="claude-house", messages=BODY["messages"])


def test_anthropic_headers_are_accepted_and_ids_agree(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    gateway = gateway_for(upstream, CONFIG)
    headers = {"anthropic-version": "1999-01-01", "anthropic-beta": "whatever-2099", "x-request-id": "req-mine"}
    response = raw_post(gateway, "/v1/messages/count_tokens", BODY, headers=headers)
    assert response.status_code == 200
    assert response.headers["request-id"] == response.headers["x-request-id"] == "req-mine"


def test_client_disconnect_cancels_the_upstream_stream(start_gateway: GatewayStarter) -> None:
    first = oa.sse_body([oa.chunk({"role": "assistant", "content": "Once upon"})], done=False)
    with DisconnectWatcher(first) as watched:
        gateway = start_gateway(WATCHED, {"WATCHED_URL": watched.url})
        with (
            httpx.Client(timeout=10, trust_env=False) as client,
            client.stream("POST", gateway.url + "/v1/messages", json={**BODY, "stream": True}) as response,
        ):
            pieces = response.iter_raw()  # held: a dropped iterator closes the response, a disconnect
            seen = b""
            while b"Once upon" not in seen:
                seen += next(pieces)
            assert not watched.closed.is_set()
        assert watched.closed.wait(DISCONNECT_BOUND), "the upstream request outlived the client"


def test_the_checks_catch_what_anthropic_would_not_send() -> None:
    ok = {"request-id": "req_1", "content-type": "application/json"}
    openai_error = orjson.dumps(oa.error_body("nope"))
    assert response_problems("/v1/messages", 400, ok, openai_error)
    assert response_problems("/v1/messages", 200, ok, orjson.dumps(oa.chat_completion("hi")))
    assert response_problems("/v1/messages", 200, {"content-type": "application/json"}, b"{}")
    sse = {"request-id": "req_1", "content-type": "text/event-stream"}
    assert response_problems("/v1/messages", 200, sse, oa.sse_body(oa.text_chunks(("hi",))))
    unnamed = b'data: {"type":"message_stop"}\n\n'
    assert response_problems("/v1/messages", 200, sse, unnamed)


def test_an_unexpected_failure_is_an_anthropic_500(
    gateway_for: GatewayFor, upstream: FakeServer, anthropic_client: ClientFor, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("a bug")

    monkeypatch.setattr("modelmux.runtime.http.anthropic_routes.to_anthropic_message", broken)
    upstream.script("POST", "/v1/chat/completions", Reply.json(oa.chat_completion("hi")))
    gateway = gateway_for(upstream, CONFIG)
    with pytest.raises(anthropic.InternalServerError) as caught:
        anthropic_client(gateway).messages.create(model="claude-house", max_tokens=10, messages=BODY["messages"])
    assert caught.value.type == "api_error"
    assert caught.value.request_id is not None and caught.value.request_id in str(caught.value.api_message)
    assert "a bug" not in caught.value.response.text
