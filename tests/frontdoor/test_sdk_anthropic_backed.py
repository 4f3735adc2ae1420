"""The official `anthropic` SDK through ModelMux's `/v1/messages` to an Anthropic upstream (a fake one):
Anthropic in, OpenAI inside, Anthropic out, and the upstream sees what the client sent."""

from __future__ import annotations

import anthropic
import pytest

from tests.e2e.conftest import TEST_API_KEY, Gateway, GatewayFor, received
from tests.fakes import FakeServer, Reply
from tests.fakes import anthropic_like as an
from tests.frontdoor.conftest import ClientFor

CONFIG = """
version: 1
providers:
  - name: claude
    type: anthropic
    api_key: ${TEST_API_KEY}
    base_url: ${UPSTREAM_URL}
    models:
      claude-house: claude-3-5-sonnet-20241022
"""
MESSAGES = "/v1/messages"
MODEL = "claude-house"
HELLO = [{"role": "user", "content": "Say hello."}]
WEATHER = {
    "name": "get_weather",
    "description": "Weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def serve(gateway_for: GatewayFor, upstream: FakeServer, *replies: Reply) -> Gateway:
    upstream.script("POST", MESSAGES, *replies)
    return gateway_for(upstream, CONFIG)


def test_text_message(gateway_for: GatewayFor, upstream: FakeServer, anthropic_client: ClientFor) -> None:
    usage = an.usage(40, 12, cache_read=100)
    gateway = serve(gateway_for, upstream, Reply.json(an.message("Bonjour !", usage_=usage)))
    message = anthropic_client(gateway).messages.create(
        model=MODEL,
        max_tokens=300,
        system="Answer in French.",
        messages=HELLO,
        stop_sequences=["END"],
        metadata={"user_id": "user-42"},
    )
    assert message.content[0].text == "Bonjour !"
    assert message.model == MODEL and message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens) == (40, 100)
    assert message.usage.output_tokens == 12
    sent = received(upstream, MESSAGES)
    assert sent.header("x-api-key") == TEST_API_KEY
    assert sent.json() == {
        "model": "claude-3-5-sonnet-20241022",
        "max_tokens": 300,
        "messages": HELLO,
        "system": "Answer in French.",
        "stop_sequences": ["END"],
        "metadata": {"user_id": "user-42"},
    }


def test_tool_use_round_trip(gateway_for: GatewayFor, upstream: FakeServer, anthropic_client: ClientFor) -> None:
    use = an.tool_use("get_weather", {"city": "Paris"}, id="toolu_01W")
    gateway = serve(
        gateway_for,
        upstream,
        Reply.json(an.message("Let me check.", tool_uses=[use])),
        Reply.json(an.message("Cloudy, 18°C.")),
    )
    client = anthropic_client(gateway)
    question = [{"role": "user", "content": "Weather in Paris?"}]
    choice = {"type": "any", "disable_parallel_tool_use": True}
    first = client.messages.create(model=MODEL, max_tokens=200, tools=[WEATHER], tool_choice=choice, messages=question)
    assert first.stop_reason == "tool_use"
    assert first.content[1].model_dump() == {**use, "caller": None, "toolset_name": None}
    result = {"type": "tool_result", "tool_use_id": "toolu_01W", "content": "18°C, cloudy", "is_error": False}
    history = [*question, {"role": "assistant", "content": first.content}, {"role": "user", "content": [result]}]
    second = client.messages.create(model=MODEL, max_tokens=200, tools=[WEATHER], messages=history)
    assert second.content[0].text == "Cloudy, 18°C."
    assert received(upstream, MESSAGES, 0).json()["tool_choice"] == choice
    sent = received(upstream, MESSAGES, 1).json()
    assert sent["tools"] == [WEATHER]
    assert sent["messages"][1:] == [
        {"role": "assistant", "content": [{"type": "text", "text": "Let me check."}, use]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01W", "content": "18°C, cloudy"}]},
    ]


def test_streamed_text(gateway_for: GatewayFor, upstream: FakeServer, anthropic_client: ClientFor) -> None:
    events = an.stream_events(("Hello", "! How can I", " help you today?"), input_tokens=25, output_tokens=12)
    gateway = serve(gateway_for, upstream, Reply.sse([an.sse_body(events)]))
    with anthropic_client(gateway).messages.stream(model=MODEL, max_tokens=100, messages=HELLO) as stream:
        text = "".join(stream.text_stream)
        message = stream.get_final_message()
    assert text == "Hello! How can I help you today?"
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (25, 12)
    assert received(upstream, MESSAGES).json()["stream"] is True


def test_streamed_tool_use(gateway_for: GatewayFor, upstream: FakeServer, anthropic_client: ClientFor) -> None:
    uses = [("toolu_01A", "get_weather", ['{"city": ', '"Oslo"}']), ("toolu_01B", "get_weather", ['{"city": "Rome"}'])]
    gateway = serve(gateway_for, upstream, Reply.sse([an.sse_body(an.stream_events(("Checking.",), tool_uses=uses))]))
    client = anthropic_client(gateway)
    with client.messages.stream(model=MODEL, max_tokens=100, tools=[WEATHER], messages=HELLO) as stream:
        snapshots = [event.snapshot for event in stream if event.type == "input_json"]
        message = stream.get_final_message()
    assert snapshots[-1] == {"city": "Rome"}
    assert message.stop_reason == "tool_use"
    assert [block.type for block in message.content] == ["text", "tool_use", "tool_use"]
    assert [(b.id, b.input) for b in message.content[1:]] == [
        ("toolu_01A", {"city": "Oslo"}),
        ("toolu_01B", {"city": "Rome"}),
    ]


@pytest.mark.parametrize(
    ("status", "exception"),
    [
        (400, anthropic.BadRequestError),
        (401, anthropic.AuthenticationError),
        (404, anthropic.NotFoundError),
        (429, anthropic.RateLimitError),
        (500, anthropic.InternalServerError),
        (529, anthropic.OverloadedError),
    ],
)
def test_upstream_errors_keep_their_type(
    gateway_for: GatewayFor,
    upstream: FakeServer,
    anthropic_client: ClientFor,
    status: int,
    exception: type[anthropic.APIStatusError],
) -> None:
    gateway = serve(gateway_for, upstream, Reply.json(an.error_for(status), status=status))
    with pytest.raises(anthropic.APIStatusError) as caught:
        anthropic_client(gateway).messages.create(model=MODEL, max_tokens=10, messages=HELLO)
    assert type(caught.value) is exception and caught.value.status_code == status
    assert caught.value.body == {
        "type": "error",
        "error": an.error_for(status)["error"],
        "request_id": caught.value.response.headers["request-id"],
    }


def test_overloaded_mid_stream(gateway_for: GatewayFor, upstream: FakeServer, anthropic_client: ClientFor) -> None:
    events = [*an.stream_events(("Hel", "lo"))[:4], an.error_event("overloaded_error", "Overloaded")]
    gateway = serve(gateway_for, upstream, Reply.sse([an.sse_body(events)]))
    client = anthropic_client(gateway)
    with (
        pytest.raises(anthropic.APIStatusError) as caught,
        client.messages.stream(model=MODEL, max_tokens=10, messages=HELLO) as stream,
    ):
        for _ in stream:
            pass
    assert caught.value.api_message == "Overloaded"
