"""The official `anthropic` SDK through ModelMux's `/v1/messages` to an OpenAI upstream (a fake one)."""

from __future__ import annotations

import base64
from typing import Any

import anthropic
import pytest

from tests.e2e.conftest import TEST_API_KEY, Gateway, GatewayFor, received
from tests.fakes import FakeServer, Reply
from tests.fakes import openai_like as oa
from tests.frontdoor.anthropic_checks import events_of
from tests.frontdoor.conftest import ClientFor, raw_post

CONFIG = """
version: 1
server:
  max_body_size: 64KB
providers:
  - name: openai-main
    type: openai
    api_key: ${TEST_API_KEY}
    base_url: ${UPSTREAM_URL}/v1
    models:
      claude-house: gpt-4o
"""
CHAT = "/v1/chat/completions"
MODEL = "claude-house"
HELLO = [{"role": "user", "content": "Say hello."}]
WEATHER = {
    "name": "get_weather",
    "description": "Weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def serve(gateway_for: GatewayFor, upstream: FakeServer, *replies: Reply) -> Gateway:
    upstream.script("POST", CHAT, *replies)
    return gateway_for(upstream, CONFIG)


def sse(chunks: list[dict[str, Any]]) -> Reply:
    return Reply.sse([oa.sse_body(chunks)])


def test_text_message(gateway_for: GatewayFor, upstream: FakeServer, anthropic_client: ClientFor) -> None:
    gateway = serve(gateway_for, upstream, Reply.json(oa.chat_completion("Bonjour !", usage_=oa.usage(25, 12))))
    raw = anthropic_client(gateway).messages.with_raw_response.create(
        model=MODEL, max_tokens=300, system="Answer in French.", messages=HELLO, extra_body={"temperature": 0.5}
    )
    message = raw.parse()
    assert message.id.startswith("msg_") and message.model == MODEL and message.role == "assistant"
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == "Bonjour !"
    assert (message.stop_reason, message.stop_sequence) == ("end_turn", None)
    assert (message.usage.input_tokens, message.usage.output_tokens) == (25, 12)
    assert raw.headers["request-id"] == raw.headers["x-request-id"]
    assert raw.headers["x-modelmux-provider"] == "openai-main"
    sent = received(upstream, CHAT)
    assert sent.header("authorization") == f"Bearer {TEST_API_KEY}"
    assert sent.json() == {
        "model": "gpt-4o",
        "messages": [{"role": "system", "content": "Answer in French."}, *HELLO],
        "max_tokens": 300,
        "temperature": 0.5,
    }


def test_tool_use_round_trip(gateway_for: GatewayFor, upstream: FakeServer, anthropic_client: ClientFor) -> None:
    call = oa.tool_call("get_weather", {"city": "Paris"}, id="call_W1")
    gateway = serve(
        gateway_for,
        upstream,
        Reply.json(oa.chat_completion("Let me check.", tool_calls=[call])),
        Reply.json(oa.chat_completion("18°C and cloudy in Paris.")),
    )
    client = anthropic_client(gateway)
    question = [{"role": "user", "content": "Weather in Paris?"}]
    first = client.messages.create(model=MODEL, max_tokens=200, tools=[WEATHER], messages=question)
    assert first.stop_reason == "tool_use"
    tool_use = first.content[1]
    assert tool_use.type == "tool_use"
    assert (tool_use.id, tool_use.name, tool_use.input) == ("call_W1", "get_weather", {"city": "Paris"})
    result = {"type": "tool_result", "tool_use_id": tool_use.id, "content": "18°C, cloudy"}
    history = [*question, {"role": "assistant", "content": first.content}, {"role": "user", "content": [result]}]
    second = client.messages.create(model=MODEL, max_tokens=200, tools=[WEATHER], messages=history)
    assert second.content[0].text == "18°C and cloudy in Paris."
    sent = received(upstream, CHAT, 1).json()
    assert sent["tools"][0]["function"]["parameters"] == WEATHER["input_schema"]
    assert sent["messages"][1] == {
        "role": "assistant",
        "content": "Let me check.",
        "tool_calls": [call | {"function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}],
    }
    assert sent["messages"][2] == {"role": "tool", "tool_call_id": "call_W1", "content": "18°C, cloudy"}


def test_image_input(gateway_for: GatewayFor, upstream: FakeServer, anthropic_client: ClientFor) -> None:
    gateway = serve(gateway_for, upstream, Reply.json(oa.chat_completion("A cat.")))
    data = base64.b64encode(b"\x89PNG fake").decode()
    content = [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
        {"type": "text", "text": "What is this?"},
    ]
    message = anthropic_client(gateway).messages.create(
        model=MODEL,
        max_tokens=50,
        messages=[{"role": "user", "content": content}],
    )
    assert message.content[0].text == "A cat."
    assert received(upstream, CHAT).json()["messages"][0]["content"] == [
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
        {"type": "text", "text": "What is this?"},
    ]


def test_streamed_text(gateway_for: GatewayFor, upstream: FakeServer, anthropic_client: ClientFor) -> None:
    chunks = oa.text_chunks(("Hello", "!", " How can I help?"), include_usage=True, usage_=oa.usage(30, 9, cached=10))
    gateway = serve(gateway_for, upstream, sse(chunks))
    with anthropic_client(gateway).messages.stream(model=MODEL, max_tokens=100, messages=HELLO) as stream:
        text = "".join(stream.text_stream)
        message = stream.get_final_message()
    assert text == "Hello! How can I help?"
    assert message.content[0].text == text
    assert message.stop_reason == "end_turn" and message.model == MODEL
    usage = message.usage
    assert (usage.input_tokens, usage.cache_read_input_tokens, usage.output_tokens) == (20, 10, 9)
    sent = received(upstream, CHAT).json()
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}


def test_streamed_tool_use(gateway_for: GatewayFor, upstream: FakeServer, anthropic_client: ClientFor) -> None:
    calls = [("call_A", "get_weather", ['{"city"', ': "Oslo"}']), ("call_B", "get_weather", ['{"city": "Rome"}'])]
    gateway = serve(gateway_for, upstream, sse(oa.tool_call_chunks(calls, include_usage=True)))
    client = anthropic_client(gateway)
    with client.messages.stream(model=MODEL, max_tokens=100, tools=[WEATHER], messages=HELLO) as stream:
        kinds = [event.type for event in stream]
        message = stream.get_final_message()
    assert "input_json" in kinds
    assert message.stop_reason == "tool_use"
    assert [(b.id, b.input) for b in message.content] == [("call_A", {"city": "Oslo"}), ("call_B", {"city": "Rome"})]
    assert (message.usage.input_tokens, message.usage.output_tokens) == (82, 41)


def test_raw_event_sequence(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    gateway = serve(gateway_for, upstream, sse(oa.text_chunks(("Hi",), include_usage=True)))
    body = {"model": MODEL, "max_tokens": 10, "stream": True, "messages": HELLO}
    response = raw_post(gateway, "/v1/messages", body)
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    names = [name for name, _ in events_of(response.content)]
    assert names == [
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = events_of(response.content)[0][1]["message"]
    assert start["usage"]["input_tokens"] == 7  # the gateway's estimate of "Say hello." in one message


def test_count_tokens(gateway_for: GatewayFor, upstream: FakeServer, anthropic_client: ClientFor) -> None:
    gateway = serve(gateway_for, upstream)
    counted = anthropic_client(gateway).messages.count_tokens(model=MODEL, system="Be brief.", messages=HELLO)
    assert counted.input_tokens == 3 + 4 + 2 + 4  # "Be brief." and "Say hello.", plus 4 a message
    assert upstream.requests == []


UPSTREAM_ERRORS = [
    (400, anthropic.BadRequestError, "invalid_request_error"),
    (401, anthropic.AuthenticationError, "authentication_error"),
    (403, anthropic.PermissionDeniedError, "permission_error"),
    (429, anthropic.RateLimitError, "rate_limit_error"),
    (500, anthropic.InternalServerError, "api_error"),
    (503, anthropic.ServiceUnavailableError, "overloaded_error"),
]


@pytest.mark.parametrize(("status", "exception", "kind"), UPSTREAM_ERRORS)
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_upstream_errors_raise_the_sdk_exceptions(
    gateway_for: GatewayFor,
    upstream: FakeServer,
    anthropic_client: ClientFor,
    status: int,
    exception: type[anthropic.APIStatusError],
    kind: str,
    stream: bool,
) -> None:
    error = Reply.json(oa.error_body(f"upstream says no ({status})", "x"), status=status, headers={"retry-after": "3"})
    gateway = serve(gateway_for, upstream, error)
    client = anthropic_client(gateway)
    with pytest.raises(exception) as caught:
        if stream:
            with client.messages.stream(model=MODEL, max_tokens=10, messages=HELLO) as events:
                events.get_final_message()
        else:
            client.messages.create(model=MODEL, max_tokens=10, messages=HELLO)
    assert type(caught.value) is exception and caught.value.status_code == status
    assert caught.value.type == kind
    assert caught.value.api_message == f"upstream says no ({status})"
    assert caught.value.request_id == caught.value.response.headers["x-request-id"]
    if status == 429:
        assert caught.value.response.headers["retry-after"] == "3"


def test_unknown_model_is_not_found(gateway_for: GatewayFor, upstream: FakeServer, anthropic_client: ClientFor) -> None:
    gateway = serve(gateway_for, upstream)
    with pytest.raises(anthropic.NotFoundError) as caught:
        anthropic_client(gateway).messages.create(model="claude-9", max_tokens=10, messages=HELLO)
    assert caught.value.type == "not_found_error"
    assert "claude-9" in str(caught.value.api_message)
    assert upstream.requests == []


def test_mid_stream_error_raises(gateway_for: GatewayFor, upstream: FakeServer, anthropic_client: ClientFor) -> None:
    head = oa.sse_body(oa.text_chunks(("Hel", "lo"))[:3], done=False)
    gateway = serve(gateway_for, upstream, Reply.sse([head], end="reset"))
    client = anthropic_client(gateway)
    with (
        pytest.raises(anthropic.APIStatusError) as caught,
        client.messages.stream(model=MODEL, max_tokens=10, messages=HELLO) as stream,
    ):
        for _ in stream:
            pass
    assert caught.value.type == "api_error"
    assert "mid-stream" in str(caught.value.api_message)


@pytest.mark.parametrize(
    ("body", "status", "kind", "phrase"),
    [
        (b'{"model": "claude-house", "max_tokens": ', 400, "invalid_request_error", "not valid JSON"),
        ({"model": MODEL, "messages": HELLO}, 400, "invalid_request_error", "max_tokens: Field required"),
        (
            {"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": "x" * 70_000}]},
            413,
            "request_too_large",
            "larger than",
        ),
    ],
)
def test_refused_requests(
    gateway_for: GatewayFor, upstream: FakeServer, body: Any, status: int, kind: str, phrase: str
) -> None:
    gateway = serve(gateway_for, upstream)
    response = raw_post(gateway, "/v1/messages", body)
    assert response.status_code == status
    error = response.json()
    assert error["error"]["type"] == kind and phrase in error["error"]["message"]
    assert error["request_id"] == response.headers["request-id"]
    assert upstream.requests == []
