"""The official OpenAI SDK through ModelMux to an `openai` upstream (a fake OpenAI on 127.0.0.1)."""

from __future__ import annotations

import json

import orjson

from tests.conformance import assert_valid_chat_completion, assert_valid_embeddings, assert_valid_models_list
from tests.e2e.conftest import (
    TEST_API_KEY,
    USER_HI,
    Gateway,
    GatewayFor,
    assert_modelmux_headers,
    assert_one_stream_identity,
    received,
    stream_raw,
)
from tests.fakes import FakeServer, Reply
from tests.fakes import openai_like as oa

CONFIG = """
version: 1
providers:
  - name: openai-main
    type: openai
    api_key: ${TEST_API_KEY}
    base_url: ${UPSTREAM_URL}/v1
    models:
      gpt-4o: gpt-4o-2024-08-06
      text-embedding-3-small: text-embedding-3-small
"""
CHAT = "/v1/chat/completions"


def serve(gateway_for: GatewayFor, upstream: FakeServer, *replies: Reply, path: str = CHAT) -> Gateway:
    upstream.script("POST", path, *replies)
    return gateway_for(upstream, CONFIG)


def test_json_completion_conforms_and_names_the_asked_model(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    gateway = serve(gateway_for, upstream, Reply.json(oa.chat_completion(), headers=oa.response_headers()))
    raw = gateway.client().chat.completions.with_raw_response.create(model="gpt-4o", messages=USER_HI, temperature=0.2)
    body = json.loads(raw.text)
    assert_valid_chat_completion(body)
    assert_modelmux_headers(raw.headers, provider="openai-main", attempts=1)
    assert body["model"] == "gpt-4o"
    message = body["choices"][0]["message"]
    assert message["content"] == "Hello! How can I help you today?"
    assert "refusal" in message and message["refusal"] is None
    assert "logprobs" in body["choices"][0]
    completion = raw.parse()
    assert completion.usage is not None and completion.usage.total_tokens == 29
    sent = received(upstream, CHAT)
    assert sent.header("authorization") == f"Bearer {TEST_API_KEY}"
    assert sent.json()["model"] == "gpt-4o-2024-08-06"
    assert sent.json()["temperature"] == 0.2
    assert "stream" not in sent.json()


def test_client_request_id_is_echoed(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    gateway = serve(gateway_for, upstream, Reply.json(oa.chat_completion()))
    raw = gateway.client().chat.completions.with_raw_response.create(
        model="gpt-4o", messages=USER_HI, extra_headers={"X-Request-Id": "trace-42.a"}
    )
    assert raw.headers["x-request-id"] == "trace-42.a"


def test_stream_without_usage_hides_the_usage_modelmux_asked_for(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    upstream_chunks = oa.text_chunks(include_usage=True)
    gateway = serve(gateway_for, upstream, Reply.sse([oa.sse_body(upstream_chunks)]))
    with gateway.client().chat.completions.create(model="gpt-4o", messages=USER_HI, stream=True) as stream:
        chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello! How can I help?"
    assert all(c.usage is None for c in chunks)
    assert all(c.choices for c in chunks), "a usage chunk reached a client that did not ask for it"
    sent = received(upstream, CHAT).json()
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}
    assert sent["model"] == "gpt-4o-2024-08-06"


def test_stream_raw_chunks_conform_and_share_one_identity(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    gateway = serve(gateway_for, upstream, Reply.sse([oa.sse_body(oa.text_chunks(include_usage=True))]))
    stream = stream_raw(gateway, {"model": "gpt-4o", "messages": USER_HI})
    assert stream.status == 200
    assert_modelmux_headers(stream.headers, provider="openai-main", attempts=1)
    chunks = stream.chunks
    assert_one_stream_identity(chunks, "gpt-4o")
    assert chunks[0]["id"].startswith("chatcmpl-")
    assert stream.headers["cache-control"] == "no-cache"
    assert all("usage" not in chunk for chunk in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert stream.done and not stream.errors
    assert stream.text() == "Hello! How can I help?"


def test_stream_with_include_usage_ends_with_the_usage_chunk(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    usage = oa.usage(31, 7)
    gateway = serve(gateway_for, upstream, Reply.sse([oa.sse_body(oa.text_chunks(include_usage=True, usage_=usage))]))
    with gateway.client().chat.completions.create(
        model="gpt-4o", messages=USER_HI, stream=True, stream_options={"include_usage": True}
    ) as stream:
        chunks = list(stream)
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens, last.usage.total_tokens) == (31, 7, 38)
    assert all(c.usage is None for c in chunks[:-1])
    raw = stream_raw(gateway, {"model": "gpt-4o", "messages": USER_HI, "stream_options": {"include_usage": True}})
    assert [c["usage"] is None for c in raw.chunks].count(False) == 1
    assert raw.chunks[-1]["usage"]["total_tokens"] == 38


def test_tool_call_round_trip(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    call = oa.tool_call("get_weather", {"city": "Paris"}, id="call_weather_1")
    gateway = serve(gateway_for, upstream, Reply.json(oa.chat_completion(None, tool_calls=[call])))
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    raw = gateway.client().chat.completions.with_raw_response.create(
        model="gpt-4o", messages=USER_HI, tools=tools, tool_choice="auto"
    )
    assert_valid_chat_completion(json.loads(raw.text))
    choice = raw.parse().choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    assert choice.message.tool_calls[0].id == "call_weather_1"
    assert json.loads(choice.message.tool_calls[0].function.arguments) == {"city": "Paris"}
    sent = received(upstream, CHAT).json()
    assert sent["tools"] == tools and sent["tool_choice"] == "auto"


def test_parallel_tool_calls_stream_keep_their_own_index(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    calls = [
        ("call_a", "get_weather", ['{"ci', 'ty": "Par', 'is"}']),
        ("call_b", "get_time", ['{"tz": ', '"Europe/Paris"}']),
    ]
    gateway = serve(gateway_for, upstream, Reply.sse([oa.sse_body(oa.tool_call_chunks(calls))]))
    with gateway.client().chat.completions.create(
        model="gpt-4o", messages=USER_HI, stream=True, parallel_tool_calls=True
    ) as stream:
        chunks = list(stream)
    built: dict[int, dict[str, str]] = {}
    for chunk in chunks:
        for delta in chunk.choices[0].delta.tool_calls or []:
            entry = built.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            entry["id"] += delta.id or ""
            if delta.function is not None:
                entry["name"] += delta.function.name or ""
                entry["arguments"] += delta.function.arguments or ""
    assert built == {
        0: {"id": "call_a", "name": "get_weather", "arguments": '{"city": "Paris"}'},
        1: {"id": "call_b", "name": "get_time", "arguments": '{"tz": "Europe/Paris"}'},
    }
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    assert_one_stream_identity(
        stream_raw(gateway, {"model": "gpt-4o", "messages": USER_HI}).chunks,
        "gpt-4o",
    )


def test_metadata_routes_but_reaches_the_upstream_only_when_stored(
    gateway_for: GatewayFor, upstream: FakeServer
) -> None:
    gateway = serve(gateway_for, upstream, Reply.json(oa.chat_completion()))
    sdk = gateway.client()
    sdk.chat.completions.create(model="gpt-4o", messages=USER_HI, metadata={"team": "search"})
    sdk.chat.completions.create(model="gpt-4o", messages=USER_HI, metadata={"team": "search"}, store=True)
    assert "metadata" not in received(upstream, CHAT, 0).json()
    assert received(upstream, CHAT, 1).json()["metadata"] == {"team": "search"}


def test_image_parts_reach_openai_unchanged(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    gateway = serve(gateway_for, upstream, Reply.json(oa.chat_completion("A cat.")))
    content = [
        {"type": "text", "text": "What is in these images?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
    ]
    completion = gateway.client().chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": content}]
    )
    assert completion.choices[0].message.content == "A cat."
    assert received(upstream, CHAT).json()["messages"][0]["content"] == content


def test_embeddings(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    reply = Reply.json(oa.embeddings([[0.1, -0.2, 0.3], [0.0, 0.5, -0.5]]))
    gateway = serve(gateway_for, upstream, reply, path="/v1/embeddings")
    raw = gateway.client().embeddings.with_raw_response.create(
        model="text-embedding-3-small", input=["one", "two"], encoding_format="float"
    )
    body = json.loads(raw.text)
    assert_valid_embeddings(body)
    assert_modelmux_headers(raw.headers, provider="openai-main", attempts=1)
    result = raw.parse()
    assert [item.embedding for item in result.data] == [[0.1, -0.2, 0.3], [0.0, 0.5, -0.5]]
    assert result.model == "text-embedding-3-small"
    sent = received(upstream, "/v1/embeddings")
    assert sent.json()["input"] == ["one", "two"]
    assert sent.header("authorization") == f"Bearer {TEST_API_KEY}"


def test_models_list_names_the_public_models(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    gateway = gateway_for(upstream, CONFIG)
    raw = gateway.client().models.with_raw_response.list()
    assert_valid_models_list(orjson.loads(raw.text))
    assert_modelmux_headers(raw.headers)
    ids = sorted(model.id for model in raw.parse())
    assert ids == ["gpt-4o", "text-embedding-3-small"]
    assert gateway.client().models.retrieve("gpt-4o").owned_by == "openai-main"
    assert upstream.requests == [], "listing models must not call the upstream"


ALIASED = """
version: 1
providers:
  - name: openai-main
    type: openai
    api_key: ${TEST_API_KEY}
    base_url: ${UPSTREAM_URL}/v1
    models:
      gpt-4o: gpt-4o-2024-08-06
routing:
  rules:
    - name: smart-alias
      if: model == "smart"
      model: gpt-4o
"""


def test_a_rule_rewriting_the_model_still_answers_with_the_asked_name(
    gateway_for: GatewayFor, upstream: FakeServer
) -> None:
    upstream.script("POST", CHAT, Reply.json(oa.chat_completion()), Reply.sse([oa.sse_body(oa.text_chunks())]))
    gateway = gateway_for(upstream, ALIASED)
    raw = gateway.client().chat.completions.with_raw_response.create(model="smart", messages=USER_HI)
    assert raw.parse().model == "smart"
    assert raw.headers["x-modelmux-route"] == "smart-alias"
    assert received(upstream, CHAT).json()["model"] == "gpt-4o-2024-08-06"
    assert_one_stream_identity(stream_raw(gateway, {"model": "smart", "messages": USER_HI}).chunks, "smart")
