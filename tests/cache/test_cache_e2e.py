"""The response cache through the whole server (memory backend), checked with the OpenAI SDK."""

from __future__ import annotations

import asyncio
import json

from tests.conformance import assert_valid_chat_completion
from tests.e2e.conftest import (
    USER_HI,
    Gateway,
    GatewayFor,
    assert_modelmux_headers,
    assert_one_stream_identity,
    stream_raw,
)
from tests.fakes import FakeServer, Reply
from tests.fakes import openai_like as oa

CHAT = "/v1/chat/completions"
CONFIG = """
version: 1
providers:
  - name: openai-main
    type: openai
    api_key: ${TEST_API_KEY}
    base_url: ${UPSTREAM_URL}/v1
    models:
      gpt-4o: gpt-4o-2024-08-06
caching:
  enabled: true
  backend: memory
  ttl: 300s
"""
BODY = {"model": "gpt-4o", "messages": USER_HI, "temperature": 0}
ANSWER = "Hello! How can I help you today?"


def serve(gateway_for: GatewayFor, upstream: FakeServer, *replies: Reply) -> Gateway:
    upstream.script("POST", CHAT, *replies)
    return gateway_for(upstream, CONFIG)


def test_a_repeated_request_is_answered_from_the_cache(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    gateway = serve(gateway_for, upstream, Reply.json(oa.chat_completion(ANSWER)))
    sdk = gateway.client()
    first = sdk.chat.completions.with_raw_response.create(model="gpt-4o", messages=USER_HI, temperature=0)
    second = sdk.chat.completions.with_raw_response.create(model="gpt-4o", messages=USER_HI, temperature=0)
    assert (first.headers["x-modelmux-cache"], second.headers["x-modelmux-cache"]) == ("MISS", "HIT")
    assert_modelmux_headers(second.headers, provider="openai-main", attempts=0)
    body = json.loads(second.text)
    assert_valid_chat_completion(body)
    assert body["choices"][0]["message"]["content"] == ANSWER
    assert body["model"] == "gpt-4o"
    assert body["id"] != json.loads(first.text)["id"]
    assert len(upstream.requests_to(CHAT)) == 1


def test_a_request_that_is_not_cacheable_says_bypass(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    gateway = serve(gateway_for, upstream, Reply.json(oa.chat_completion()))
    sdk = gateway.client()
    for _ in range(2):
        raw = sdk.chat.completions.with_raw_response.create(model="gpt-4o", messages=USER_HI, temperature=0.8)
        assert raw.headers["x-modelmux-cache"] == "BYPASS"
    assert len(upstream.requests_to(CHAT)) == 2


def test_an_upstream_error_carries_the_cache_header(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    error = oa.error_body("The server had an error", "server_error")
    gateway = serve(gateway_for, upstream, Reply.json(error, status=500))
    response = gateway.http().post(CHAT, json=BODY)
    assert response.status_code == 500
    assert response.headers["x-modelmux-cache"] == "MISS"


def test_a_streamed_miss_is_stored_and_replayed_as_a_stream(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    pieces = ("Hello", "!", " How", " can", " I", " help", "?")
    gateway = serve(gateway_for, upstream, Reply.sse([oa.sse_body(oa.text_chunks(pieces, include_usage=True))]))
    first = stream_raw(gateway, BODY)
    assert first.headers["x-modelmux-cache"] == "MISS" and first.done
    second = stream_raw(gateway, {**BODY, "stream_options": {"include_usage": True}})
    assert second.status == 200 and second.done and not second.errors
    assert second.headers["x-modelmux-cache"] == "HIT"
    chunks = second.chunks
    assert_one_stream_identity(chunks, "gpt-4o")
    assert second.text() == "".join(pieces)
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 29
    assert all(c["usage"] is None for c in chunks[:-1])
    as_json = gateway.client().chat.completions.create(model="gpt-4o", messages=USER_HI, temperature=0)
    assert as_json.choices[0].message.content == "".join(pieces)
    assert len(upstream.requests_to(CHAT)) == 1


def test_a_json_miss_is_replayed_to_a_streaming_client(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    gateway = serve(gateway_for, upstream, Reply.json(oa.chat_completion(ANSWER)))
    gateway.client().chat.completions.create(model="gpt-4o", messages=USER_HI, temperature=0)
    replay = stream_raw(gateway, BODY)
    assert replay.headers["x-modelmux-cache"] == "HIT" and replay.done
    assert_one_stream_identity(replay.chunks, "gpt-4o")
    assert replay.text() == ANSWER
    assert all("usage" not in chunk for chunk in replay.chunks)
    streamed = gateway.client().chat.completions.create(model="gpt-4o", messages=USER_HI, temperature=0, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == ANSWER
    assert len(upstream.requests_to(CHAT)) == 1


def test_a_stream_cut_short_is_not_stored(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    body = oa.sse_body(oa.text_chunks(), done=False)
    gateway = serve(gateway_for, upstream, Reply.sse([body[: len(body) // 2]], end="close"))
    assert stream_raw(gateway, BODY).headers["x-modelmux-cache"] == "MISS"
    assert stream_raw(gateway, BODY).headers["x-modelmux-cache"] == "MISS"
    assert len(upstream.requests_to(CHAT)) == 2


async def test_concurrent_identical_misses_call_the_upstream_once(
    gateway_for: GatewayFor, upstream: FakeServer
) -> None:
    gateway = serve(gateway_for, upstream, Reply.json(oa.chat_completion(ANSWER), delay=0.5))
    async with gateway.async_client() as sdk:
        answers = await asyncio.gather(
            *(sdk.chat.completions.with_raw_response.create(**BODY) for _ in range(8))  # type: ignore[call-overload]
        )
    assert len(upstream.requests_to(CHAT)) == 1
    assert sorted(a.headers["x-modelmux-cache"] for a in answers) == ["HIT"] * 7 + ["MISS"]
    assert {a.parse().choices[0].message.content for a in answers} == {ANSWER}


async def test_concurrent_identical_streamed_misses_call_the_upstream_once(
    gateway_for: GatewayFor, upstream: FakeServer
) -> None:
    gateway = serve(gateway_for, upstream, Reply.sse([0.5, oa.sse_body(oa.text_chunks())]))
    async with gateway.async_client() as sdk:

        async def ask() -> str:
            stream = await sdk.chat.completions.create(**BODY, stream=True)  # type: ignore[call-overload]
            return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

        texts = await asyncio.gather(*(ask() for _ in range(6)))
    assert set(texts) == {"Hello! How can I help?"}
    assert len(upstream.requests_to(CHAT)) == 1
