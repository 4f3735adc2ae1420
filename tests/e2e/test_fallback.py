"""Fallback between two upstreams, seen from the OpenAI SDK: what is retried, what is answered at once."""

from __future__ import annotations

import openai
import pytest

from tests.e2e.conftest import (
    USER_HI,
    Gateway,
    GatewayFor,
    assert_error_response,
    assert_modelmux_headers,
    stream_raw,
)
from tests.fakes import FakeServer, Reply
from tests.fakes import anthropic_like as an
from tests.fakes import openai_like as oa

CONFIG = """
version: 1
providers:
  - name: first
    type: openai
    api_key: ${TEST_API_KEY}
    base_url: ${UPSTREAM_URL}/a/v1
    timeout: 500ms
    models: ["gpt-4o"]
  - name: second
    type: openai
    api_key: ${TEST_API_KEY}
    base_url: ${UPSTREAM_URL}/b/v1
    models: ["gpt-4o"]
routing:
  strategy: model_specific
  fallback:
    enabled: true
    max_retries: 2
    backoff: constant
    initial_delay: 10ms
"""
FIRST = "/a/v1/chat/completions"
SECOND = "/b/v1/chat/completions"


def serve(gateway_for: GatewayFor, upstream: FakeServer, first: Reply, second: Reply | None = None) -> Gateway:
    upstream.script("POST", FIRST, first)
    upstream.script("POST", SECOND, second or Reply.json(oa.chat_completion("from second")))
    return gateway_for(upstream, CONFIG)


def calls(upstream: FakeServer) -> tuple[int, int]:
    return len(upstream.requests_to(FIRST)), len(upstream.requests_to(SECOND))


def test_503_then_success_is_one_client_success(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    failure = Reply.json(oa.error_body("overloaded", "server_error"), status=503)
    gateway = serve(gateway_for, upstream, failure)
    raw = gateway.client().chat.completions.with_raw_response.create(model="gpt-4o", messages=USER_HI)
    assert raw.parse().choices[0].message.content == "from second"
    assert raw.parse().model == "gpt-4o"
    assert_modelmux_headers(raw.headers, provider="second", attempts=2)
    assert calls(upstream) == (1, 1)


def test_400_is_answered_after_exactly_one_upstream_call(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    gateway = serve(gateway_for, upstream, Reply.json(oa.error_body("bad 'messages'", param="messages"), status=400))
    with pytest.raises(openai.BadRequestError) as caught:
        gateway.client().chat.completions.create(model="gpt-4o", messages=USER_HI)
    assert caught.value.param == "messages"
    assert_modelmux_headers(caught.value.response.headers, provider="first", attempts=1)
    assert calls(upstream) == (1, 0)


def test_429_moves_on_to_the_other_provider(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    body, headers = oa.rate_limit_error(retry_after="30")
    gateway = serve(gateway_for, upstream, Reply.json(body, status=429, headers=headers))
    sdk = gateway.client()
    raw = sdk.chat.completions.with_raw_response.create(model="gpt-4o", messages=USER_HI)
    assert_modelmux_headers(raw.headers, provider="second", attempts=2)
    assert calls(upstream) == (1, 1), "the rate-limited provider must not be retried"
    again = sdk.chat.completions.with_raw_response.create(model="gpt-4o", messages=USER_HI)
    assert_modelmux_headers(again.headers, provider="second", attempts=1)
    assert calls(upstream) == (1, 2), "a provider waiting out Retry-After is skipped"


@pytest.mark.parametrize("failure", [Reply.hang(), Reply.reset()], ids=["timeout", "reset"])
def test_timeouts_and_broken_connections_fall_back(
    gateway_for: GatewayFor, upstream: FakeServer, failure: Reply
) -> None:
    gateway = serve(gateway_for, upstream, failure)
    raw = gateway.client().chat.completions.with_raw_response.create(model="gpt-4o", messages=USER_HI)
    assert_modelmux_headers(raw.headers, provider="second", attempts=2)


def test_when_every_attempt_fails_the_last_error_is_answered(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    gateway = serve(
        gateway_for,
        upstream,
        Reply.json(oa.error_body("first is down", "server_error"), status=503),
        Reply.json(oa.error_body("second is down too", "server_error"), status=502),
    )
    with pytest.raises(openai.InternalServerError) as caught:
        gateway.client().chat.completions.create(model="gpt-4o", messages=USER_HI)
    error = assert_error_response(caught.value.response, caught.value.status_code)
    assert error["message"] in {"first is down", "second is down too"}
    assert caught.value.response.headers["x-modelmux-attempts"] == "3"
    assert sum(calls(upstream)) == 3
    assert min(calls(upstream)) >= 1, "both providers are tried before either is retried"


def test_stream_falls_back_before_its_first_byte(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    gateway = serve(
        gateway_for,
        upstream,
        Reply.json(an.error_for(529), status=529),
        Reply.sse([oa.sse_body(oa.text_chunks(("from", " second")))]),
    )
    stream = stream_raw(gateway, {"model": "gpt-4o", "messages": USER_HI})
    assert stream.status == 200 and stream.done
    assert stream.text() == "from second"
    assert_modelmux_headers(stream.headers, provider="second", attempts=2)


def test_stream_never_falls_back_after_its_first_byte(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    head = oa.sse_body(oa.text_chunks(("Half",))[:2], done=False)
    gateway = serve(gateway_for, upstream, Reply.sse([head, 0.05], end="reset"))
    stream = stream_raw(gateway, {"model": "gpt-4o", "messages": USER_HI})
    assert stream.text() == "Half"
    assert stream.errors and not stream.done
    assert calls(upstream) == (1, 0), "a stream that began must not be replayed on another provider"


def test_stream_opening_with_an_error_event_falls_back(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    error = oa.error_body("The server had an error processing your request.", "server_error")
    gateway = serve(
        gateway_for,
        upstream,
        Reply.sse([oa.sse_body([error], done=False)]),
        Reply.sse([oa.sse_body(oa.text_chunks(("from", " second")))]),
    )
    with gateway.client().chat.completions.with_streaming_response.create(
        model="gpt-4o", messages=USER_HI, stream=True
    ) as response:
        assert_modelmux_headers(response.headers, provider="second", attempts=2)
        text = "".join(chunk.choices[0].delta.content or "" for chunk in response.parse())
    assert text == "from second"
    assert calls(upstream) == (1, 1)


BUDGETED = """
version: 1
providers:
  - name: first
    type: openai
    api_key: ${TEST_API_KEY}
    base_url: ${UPSTREAM_URL}/a/v1
    models: ["gpt-4o"]
  - name: second
    type: openai
    api_key: ${TEST_API_KEY}
    base_url: ${UPSTREAM_URL}/b/v1
    models: ["gpt-4o"]
routing:
  fallback:
    max_retries: 3
    backoff: constant
    initial_delay: 10ms
    attempt_timeout: ${ATTEMPT_TIMEOUT}
    deadline: ${DEADLINE}
"""


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_attempt_timeout_moves_on_from_a_slow_provider(
    gateway_for: GatewayFor, upstream: FakeServer, stream: bool
) -> None:
    slow = oa.chat_completion("from first")
    second = (
        Reply.sse([oa.sse_body(oa.text_chunks(("from", " second")))])
        if stream
        else Reply.json(oa.chat_completion("from second"))
    )
    upstream.script("POST", FIRST, Reply.json(slow, delay=3.0))
    upstream.script("POST", SECOND, second)
    gateway = gateway_for(upstream, BUDGETED, {"ATTEMPT_TIMEOUT": "300ms", "DEADLINE": "20s"})
    if stream:
        raw = stream_raw(gateway, {"model": "gpt-4o", "messages": USER_HI})
        assert raw.text() == "from second"
        headers = raw.headers
    else:
        answer = gateway.client().chat.completions.with_raw_response.create(model="gpt-4o", messages=USER_HI)
        assert answer.parse().choices[0].message.content == "from second"
        headers = answer.headers
    assert_modelmux_headers(headers, provider="second", attempts=2)


def test_deadline_bounds_the_whole_request(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    upstream.script("POST", FIRST, Reply.hang())
    upstream.script("POST", SECOND, Reply.hang())
    gateway = gateway_for(upstream, BUDGETED, {"ATTEMPT_TIMEOUT": "10s", "DEADLINE": "700ms"})
    with pytest.raises(openai.InternalServerError) as caught:
        gateway.client(timeout=8.0).chat.completions.create(model="gpt-4o", messages=USER_HI)
    assert caught.value.status_code == 504
    assert caught.value.code == "upstream_timeout"
    assert caught.value.response.headers["x-modelmux-attempts"] == "1"
    assert calls(upstream) == (1, 0)
