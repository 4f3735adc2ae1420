"""The official OpenAI SDK through ModelMux to an `openai_compatible` server (a terse vLLM-like fake)
and to the built-in `mock` provider (no upstream at all)."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from tests.conformance import assert_valid_chat_completion, assert_valid_embeddings, assert_valid_models_list
from tests.e2e.conftest import (
    USER_HI,
    GatewayFor,
    GatewayStarter,
    assert_error_response,
    assert_modelmux_headers,
    assert_one_stream_identity,
    received,
    stream_raw,
)
from tests.fakes import FakeServer, Reply
from tests.fakes import openai_like as oa

COMPATIBLE_CONFIG = """
version: 1
providers:
  - name: vllm
    type: openai_compatible
    base_url: ${UPSTREAM_URL}/v1
    models: ["*"]
"""
MOCK_CONFIG = """
version: 1
providers:
  - name: mocky
    type: mock
    models: ["gpt-4o-mini", "text-embedding-3-small"]
    response: "The quick brown fox jumps."
    embedding_dimensions: 16
"""
CHAT = "/v1/chat/completions"


def terse_completion() -> dict[str, Any]:
    """What a minimal OpenAI-compatible server answers: no id, created, refusal or logprobs."""
    return {
        "model": "meta-llama/Llama-3.1-8B-Instruct",
        "choices": [{"message": {"role": "assistant", "content": "Hi there."}, "finish_reason": "eos"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 3},
    }


def test_compatible_json_is_completed_to_conform(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    upstream.script("POST", CHAT, Reply.json(terse_completion()))
    gateway = gateway_for(upstream, COMPATIBLE_CONFIG)
    raw = gateway.client().chat.completions.with_raw_response.create(model="llama-3.1-8b", messages=USER_HI)
    body = json.loads(raw.text)
    assert_valid_chat_completion(body)
    assert_modelmux_headers(raw.headers, provider="vllm", attempts=1)
    assert body["model"] == "llama-3.1-8b"
    choice = body["choices"][0]
    assert choice["message"]["refusal"] is None and choice["logprobs"] is None
    assert choice["finish_reason"] == "stop"
    assert body["usage"]["total_tokens"] == 8
    sent = received(upstream, CHAT)
    assert sent.header("authorization") is None, "no api_key is configured: no credential may be sent"
    assert sent.json()["model"] == "llama-3.1-8b"


def test_compatible_stream_without_done_or_finish_reason(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    events = [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hi"}}]},
        {"choices": [{"index": 0, "delta": {"content": " there"}}]},
    ]
    upstream.script("POST", CHAT, Reply.sse([oa.sse_body(events, done=False)]))
    gateway = gateway_for(upstream, COMPATIBLE_CONFIG)
    stream = stream_raw(gateway, {"model": "llama", "messages": USER_HI})
    assert stream.status == 200 and stream.done and not stream.errors
    chunks = stream.chunks
    assert_one_stream_identity(chunks, "llama")
    assert stream.text() == "Hi there"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_compatible_tool_calls_without_ids(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    body = terse_completion()
    body["choices"][0]["message"] = {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"type": "function", "function": {"name": "lookup", "arguments": '{"q": "x"}'}}],
    }
    body["choices"][0]["finish_reason"] = "tool_calls"
    upstream.script("POST", CHAT, Reply.json(body))
    gateway = gateway_for(upstream, COMPATIBLE_CONFIG)
    raw = gateway.client().chat.completions.with_raw_response.create(model="llama", messages=USER_HI)
    assert_valid_chat_completion(json.loads(raw.text))
    calls = raw.parse().choices[0].message.tool_calls
    assert calls is not None and calls[0].id.startswith("call_")
    assert calls[0].function.name == "lookup"


def test_mock_json(start_gateway: GatewayStarter) -> None:
    gateway = start_gateway(MOCK_CONFIG)
    raw = gateway.client().chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=USER_HI)
    body = json.loads(raw.text)
    assert_valid_chat_completion(body)
    assert_modelmux_headers(raw.headers, provider="mocky", attempts=1)
    assert body["model"] == "gpt-4o-mini"
    assert body["choices"][0]["message"]["content"] == "The quick brown fox jumps."
    assert body["usage"] == {"prompt_tokens": 2, "completion_tokens": 5, "total_tokens": 7}


def test_mock_streams_word_by_word(start_gateway: GatewayStarter) -> None:
    gateway = start_gateway(MOCK_CONFIG)
    stream = stream_raw(
        gateway, {"model": "gpt-4o-mini", "messages": USER_HI, "stream_options": {"include_usage": True}}
    )
    assert stream.done and not stream.errors
    chunks = stream.chunks
    assert_one_stream_identity(chunks, "gpt-4o-mini")
    words = [c["choices"][0]["delta"].get("content") for c in chunks if c["choices"]]
    assert [w for w in words if w] == ["The", " quick", " brown", " fox", " jumps."]
    assert chunks[-1]["usage"]["completion_tokens"] == 5
    with gateway.client().chat.completions.create(
        model="gpt-4o-mini", messages=USER_HI, stream=True, max_tokens=2
    ) as sdk_stream:
        sdk_chunks = list(sdk_stream)
    assert "".join(c.choices[0].delta.content or "" for c in sdk_chunks) == "The quick"
    assert sdk_chunks[-1].choices[0].finish_reason == "length"


def test_mock_embeddings_and_models(start_gateway: GatewayStarter) -> None:
    gateway = start_gateway(MOCK_CONFIG)
    sdk = gateway.client()
    raw = sdk.embeddings.with_raw_response.create(
        model="text-embedding-3-small", input=["a", "b", "a"], encoding_format="float"
    )
    assert_valid_embeddings(json.loads(raw.text))
    vectors = [item.embedding for item in raw.parse().data]
    assert [len(v) for v in vectors] == [16, 16, 16]
    assert vectors[0] == vectors[2] != vectors[1]
    # The SDK asks for base64 when no format is given, and decodes it: the same vectors (as float32).
    decoded = sdk.embeddings.create(model="text-embedding-3-small", input=["a", "b", "a"]).data
    assert [round(x, 5) for x in decoded[1].embedding] == [round(x, 5) for x in vectors[1]]
    models = sdk.models.with_raw_response.list()
    assert_valid_models_list(json.loads(models.text))
    assert sorted(m.id for m in models.parse()) == ["gpt-4o-mini", "text-embedding-3-small"]


def test_mock_failure_status_reaches_the_sdk(start_gateway: GatewayStarter) -> None:
    gateway = start_gateway(
        """
version: 1
providers:
  - name: flaky
    type: mock
    models: ["gpt-4o-mini"]
    failure_rate: 1.0
    failure_status: 500
"""
    )
    with pytest.raises(openai.InternalServerError) as caught:
        gateway.client().chat.completions.create(model="gpt-4o-mini", messages=USER_HI)
    assert caught.value.status_code == 500
    assert "failed on purpose" in caught.value.message
    assert_error_response(caught.value.response, 500)
    assert caught.value.response.headers["x-modelmux-provider"] == "flaky"
