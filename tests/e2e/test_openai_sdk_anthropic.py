"""The official OpenAI SDK through ModelMux to an `anthropic` upstream (a fake Messages API)."""

from __future__ import annotations

import json

import openai
import pytest

from tests.conformance import assert_valid_chat_completion
from tests.e2e.conftest import (
    TEST_API_KEY,
    USER_HI,
    Gateway,
    GatewayFor,
    assert_error_response,
    assert_modelmux_headers,
    assert_one_stream_identity,
    received,
    stream_raw,
)
from tests.fakes import FakeServer, Reply
from tests.fakes import anthropic_like as an

CONFIG = """
version: 1
providers:
  - name: claude
    type: anthropic
    api_key: ${TEST_API_KEY}
    base_url: ${UPSTREAM_URL}
    models:
      claude-sonnet: claude-3-5-sonnet-20241022
"""
MESSAGES = "/v1/messages"
WEATHER_PARAMETERS = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
WEATHER_TOOL = {
    "type": "function",
    "function": {"name": "get_weather", "description": "Weather in a city", "parameters": WEATHER_PARAMETERS},
}


def serve(gateway_for: GatewayFor, upstream: FakeServer, *replies: Reply) -> Gateway:
    upstream.script("POST", MESSAGES, *replies)
    return gateway_for(upstream, CONFIG)


def test_json_completion_translates_both_ways(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    reply = Reply.json(an.message("Bonjour!"), headers=an.response_headers())
    gateway = serve(gateway_for, upstream, reply)
    raw = gateway.client().chat.completions.with_raw_response.create(
        model="claude-sonnet",
        messages=[{"role": "system", "content": "Answer in French."}, *USER_HI],
        max_tokens=300,
    )
    body = json.loads(raw.text)
    assert_valid_chat_completion(body)
    assert_modelmux_headers(raw.headers, provider="claude", attempts=1)
    assert body["model"] == "claude-sonnet"
    choice = body["choices"][0]
    assert choice["message"]["content"] == "Bonjour!"
    assert choice["message"]["refusal"] is None and choice["logprobs"] is None
    assert choice["finish_reason"] == "stop"
    assert body["usage"] == {
        "prompt_tokens": 25,
        "completion_tokens": 12,
        "total_tokens": 37,
        "prompt_tokens_details": {"cached_tokens": 0},
    }
    sent = received(upstream, MESSAGES)
    assert sent.header("x-api-key") == TEST_API_KEY
    assert sent.header("anthropic-version") == "2023-06-01"
    assert sent.header("authorization") is None
    assert sent.json() == {
        "model": "claude-3-5-sonnet-20241022",
        "max_tokens": 300,
        "messages": [{"role": "user", "content": "Say hello."}],
        "system": "Answer in French.",
    }


def test_refusal_becomes_the_refusal_field(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    gateway = serve(gateway_for, upstream, Reply.json(an.message("I can't help with that.", stop_reason="refusal")))
    raw = gateway.client().chat.completions.with_raw_response.create(model="claude-sonnet", messages=USER_HI)
    body = json.loads(raw.text)
    assert_valid_chat_completion(body)
    message = body["choices"][0]["message"]
    assert message["content"] is None
    assert message["refusal"] == "I can't help with that."
    assert body["choices"][0]["finish_reason"] == "content_filter"


@pytest.mark.parametrize("include_usage", [False, True])
def test_stream(gateway_for: GatewayFor, upstream: FakeServer, include_usage: bool) -> None:
    events = an.stream_events(("Bon", "jour", " à tous"), input_tokens=40, output_tokens=6)
    gateway = serve(gateway_for, upstream, Reply.sse([an.sse_body(events)]))
    body = {"model": "claude-sonnet", "messages": USER_HI}
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    stream = stream_raw(gateway, body)
    assert stream.status == 200 and stream.done and not stream.errors
    assert_modelmux_headers(stream.headers, provider="claude", attempts=1)
    chunks = stream.chunks
    assert_one_stream_identity(chunks, "claude-sonnet")
    assert stream.text() == "Bonjour à tous"
    with_choices = [c for c in chunks if c["choices"]]
    assert with_choices[-1]["choices"][0]["finish_reason"] == "stop"
    if include_usage:
        assert chunks[-1]["choices"] == []
        assert chunks[-1]["usage"]["prompt_tokens"] == 40
        assert chunks[-1]["usage"]["completion_tokens"] == 6
        assert chunks[-1]["usage"]["total_tokens"] == 46
        assert all(c["usage"] is None for c in chunks[:-1])
    else:
        assert all(c["choices"] and "usage" not in c for c in chunks)
    sent = received(upstream, MESSAGES).json()
    assert sent["stream"] is True
    assert "stream_options" not in sent


def test_sdk_stream_text(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    gateway = serve(gateway_for, upstream, Reply.sse([an.sse_body(an.stream_events())]))
    with gateway.client().chat.completions.create(model="claude-sonnet", messages=USER_HI, stream=True) as stream:
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == "Hello! How can I help you today?"


def test_tool_use_becomes_tool_calls(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    use = an.tool_use("get_weather", {"city": "Paris"}, id="toolu_01weather")
    gateway = serve(gateway_for, upstream, Reply.json(an.message(None, tool_uses=[use])))
    raw = gateway.client().chat.completions.with_raw_response.create(
        model="claude-sonnet", messages=USER_HI, tools=[WEATHER_TOOL], tool_choice="required"
    )
    assert_valid_chat_completion(json.loads(raw.text))
    choice = raw.parse().choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert (call.id, call.function.name) == ("toolu_01weather", "get_weather")
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    sent = received(upstream, MESSAGES).json()
    assert sent["tools"] == [
        {
            "name": "get_weather",
            "description": "Weather in a city",
            "input_schema": WEATHER_PARAMETERS,
        }
    ]
    assert sent["tool_choice"] == {"type": "any"}


def test_tool_result_turn_is_translated(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    gateway = serve(gateway_for, upstream, Reply.json(an.message("It is sunny in Paris.")))
    messages = [
        *USER_HI,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "toolu_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny, 24C"},
    ]
    completion = gateway.client().chat.completions.create(
        model="claude-sonnet", messages=messages, tools=[WEATHER_TOOL]
    )
    assert completion.choices[0].message.content == "It is sunny in Paris."
    sent = received(upstream, MESSAGES).json()["messages"]
    assert sent[1] == {
        "role": "assistant",
        "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}],
    }
    assert sent[2] == {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny, 24C"}],
    }


def test_parallel_tool_uses_stream_at_their_own_index(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    events = an.stream_events(
        (),
        tool_uses=[
            ("toolu_a", "get_weather", ['{"city": ', '"Paris"}']),
            ("toolu_b", "get_weather", ['{"city"', ': "Rome"}']),
        ],
    )
    gateway = serve(gateway_for, upstream, Reply.sse([an.sse_body(events)]))
    with gateway.client().chat.completions.create(
        model="claude-sonnet", messages=USER_HI, tools=[WEATHER_TOOL], stream=True
    ) as stream:
        chunks = list(stream)
    built: dict[int, dict[str, str]] = {}
    for chunk in chunks:
        for delta in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            entry = built.setdefault(delta.index, {"id": "", "arguments": ""})
            entry["id"] += delta.id or ""
            entry["arguments"] += (delta.function.arguments or "") if delta.function else ""
    assert built == {
        0: {"id": "toolu_a", "arguments": '{"city": "Paris"}'},
        1: {"id": "toolu_b", "arguments": '{"city": "Rome"}'},
    }
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["tool_calls"]


def test_image_url_and_data_uri_reach_anthropic_as_sources(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    gateway = serve(gateway_for, upstream, Reply.json(an.message("Two cats.")))
    content = [
        {"type": "text", "text": "Describe both."},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUg=="}},
    ]
    completion = gateway.client().chat.completions.create(
        model="claude-sonnet", messages=[{"role": "user", "content": content}]
    )
    assert completion.choices[0].message.content == "Two cats."
    blocks = received(upstream, MESSAGES).json()["messages"][0]["content"]
    assert blocks == [
        {"type": "text", "text": "Describe both."},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgoAAAANSUhEUg=="},
        },
    ]


def test_mid_stream_error_event_reaches_the_sdk(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    events = [*an.stream_events(("Hel", "lo"))[:4], an.error_event("overloaded_error", "Overloaded")]
    gateway = serve(gateway_for, upstream, Reply.sse([an.sse_body(events)]))
    seen: list[str] = []
    with (
        pytest.raises(openai.APIError, match="Overloaded") as caught,
        gateway.client().chat.completions.create(model="claude-sonnet", messages=USER_HI, stream=True) as stream,
    ):
        for chunk in stream:
            seen.append(chunk.choices[0].delta.content or "")
    assert "".join(seen) == "Hel"
    assert not isinstance(caught.value, openai.APIStatusError)
    raw = stream_raw(gateway, {"model": "claude-sonnet", "messages": USER_HI})
    assert not raw.done
    assert raw.events[-1][0] == "error"
    assert raw.errors[0]["error"]["message"] == "Overloaded"


@pytest.mark.parametrize(
    ("status", "exception"),
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (403, openai.PermissionDeniedError),
        (404, openai.NotFoundError),
        (413, openai.APIStatusError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
        (529, openai.InternalServerError),
    ],
)
def test_upstream_errors_keep_status_and_message(
    gateway_for: GatewayFor, upstream: FakeServer, status: int, exception: type[openai.APIStatusError]
) -> None:
    gateway = serve(gateway_for, upstream, Reply.json(an.error_for(status), status=status))
    with pytest.raises(exception) as caught:
        gateway.client().chat.completions.create(model="claude-sonnet", messages=USER_HI)
    assert caught.value.status_code == status
    assert an.ERRORS[status][1] in caught.value.message
    assert len(upstream.requests) == 1
    assert_error_response(caught.value.response, status)


def test_request_anthropic_cannot_express_is_400_without_an_upstream_call(
    gateway_for: GatewayFor, upstream: FakeServer
) -> None:
    gateway = serve(gateway_for, upstream, Reply.json(an.message()))
    with pytest.raises(openai.BadRequestError) as caught:
        gateway.client().chat.completions.create(model="claude-sonnet", messages=USER_HI, n=2)
    assert caught.value.param == "n"
    assert_error_response(caught.value.response, 400)
    assert upstream.requests == []


def test_json_schema_response_format_comes_back_as_message_text(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    answer = an.tool_use("json_schema__city", {"name": "Paris", "country": "France"})
    gateway = serve(gateway_for, upstream, Reply.json(an.message(None, tool_uses=[answer])))
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "country": {"type": "string"}},
        "required": ["name", "country"],
    }
    completion = gateway.client().chat.completions.create(
        model="claude-sonnet",
        messages=USER_HI,
        response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": schema}},
    )
    message = completion.choices[0].message
    assert json.loads(message.content or "") == {"name": "Paris", "country": "France"}
    assert not message.tool_calls
    assert completion.choices[0].finish_reason == "stop"
    sent = received(upstream, MESSAGES).json()
    assert sent["tool_choice"] == {"type": "tool", "name": "json_schema__city"}
    assert sent["tools"][0]["input_schema"] == schema


def test_thinking_is_kept_out_of_the_content(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    reply = Reply.json(an.message("42.", thinking="Six times seven."))
    gateway = serve(gateway_for, upstream, reply)
    raw = gateway.client().chat.completions.with_raw_response.create(model="claude-sonnet", messages=USER_HI)
    message = json.loads(raw.text)["choices"][0]["message"]
    assert message["content"] == "42."
    assert message["reasoning_content"] == "Six times seven."


def test_sampling_parameters_are_translated(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    gateway = serve(gateway_for, upstream, Reply.json(an.message()))
    gateway.client().chat.completions.create(
        model="claude-sonnet", messages=USER_HI, temperature=1.6, top_p=0.9, stop=["END"], user="user-7"
    )
    sent = received(upstream, MESSAGES).json()
    assert sent["temperature"] == 1.0, "Anthropic's temperature range ends at 1"
    assert (sent["top_p"], sent["stop_sequences"]) == (0.9, ["END"])
    assert sent["metadata"] == {"user_id": "user-7"}
    assert sent["max_tokens"] == 4096
