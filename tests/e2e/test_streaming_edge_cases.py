"""Streaming through ModelMux when the upstream's bytes arrive awkwardly, fail half way, or the client
goes away."""

from __future__ import annotations

import asyncio
import time

import httpx
import openai
import orjson
import pytest

from tests.conformance import assert_valid_error
from tests.e2e.conftest import (
    USER_HI,
    DisconnectWatcher,
    Gateway,
    GatewayFor,
    GatewayStarter,
    assert_modelmux_headers,
    assert_one_stream_identity,
    stream_raw,
)
from tests.fakes import FakeServer, Reply
from tests.fakes import openai_like as oa
from tests.fakes.server import Ending

CONFIG = """
version: 1
providers:
  - name: openai-main
    type: openai
    api_key: ${TEST_API_KEY}
    base_url: ${UPSTREAM_URL}/v1
    timeout: 800ms
    models: ["gpt-4o"]
"""
CHAT = "/v1/chat/completions"
BODY = {"model": "gpt-4o", "messages": USER_HI}
DISCONNECT_BOUND = 2.0  # seconds: a generous upper bound for "the upstream request is cancelled at once"


def serve(gateway_for: GatewayFor, upstream: FakeServer, reply: Reply) -> Gateway:
    upstream.script("POST", CHAT, reply)
    return gateway_for(upstream, CONFIG)


def test_utf8_and_sse_events_split_across_reads(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    pieces = ("Grüße", " aus ", "Köln ", "🌍🚀", " 日本語", " naïve café")
    body = oa.sse_body(oa.text_chunks(pieces))
    # Every 5 bytes is its own TCP write: events, lines and multi-byte characters are all cut.
    split: list[bytes | float] = []
    for piece in oa.split_pieces(body, 5):
        split += [piece, 0.001]
    gateway = serve(gateway_for, upstream, Reply.sse(split))
    with gateway.client().chat.completions.create(model="gpt-4o", messages=USER_HI, stream=True) as stream:
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream)
    assert text == "".join(pieces)
    raw = stream_raw(gateway, BODY)
    assert raw.done and raw.text() == "".join(pieces)
    assert_one_stream_identity(raw.chunks, "gpt-4o")


def test_crlf_comments_and_compact_data_lines(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    chunks = oa.text_chunks(("one", " two"))
    lines = [": keep-alive\r\n\r\n"]
    lines += [f"data:{orjson.dumps(chunk).decode()}\r\n\r\n" for chunk in chunks]
    lines.append("data: [DONE]\r\n\r\n")
    gateway = serve(gateway_for, upstream, Reply.sse(lines))
    raw = stream_raw(gateway, BODY)
    assert raw.done and not raw.errors
    assert raw.text() == "one two"


def test_one_id_and_created_whatever_the_upstream_sends(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    chunks = [
        oa.chunk({"content": "a"}, id="chatcmpl-up1", created=1000),
        oa.chunk({"content": "b"}, id="chatcmpl-up2", created=1001, model="gpt-4o-2024-11-20"),
        oa.chunk({}, finish_reason="stop", id="chatcmpl-up3", created=1002),
    ]
    gateway = serve(gateway_for, upstream, Reply.sse([oa.sse_body(chunks)]))
    raw = stream_raw(gateway, BODY)
    out = raw.chunks
    assert_one_stream_identity(out, "gpt-4o")  # the first chunk gets the role the upstream left out
    assert out[0]["id"] not in {"chatcmpl-up1", "chatcmpl-up2", "chatcmpl-up3"}
    assert out[0]["created"] > 1002
    assert raw.text() == "ab"
    second = stream_raw(gateway, BODY).chunks
    assert second[0]["id"] != out[0]["id"], "each stream needs its own id"


def test_usage_on_the_finish_chunk_is_hidden_unless_asked(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    chunks = [
        oa.chunk({"role": "assistant", "content": "hi"}),
        oa.chunk({}, finish_reason="stop", usage=oa.usage(3, 1)),
    ]
    gateway = serve(gateway_for, upstream, Reply.sse([oa.sse_body(chunks)]))
    assert all("usage" not in chunk for chunk in stream_raw(gateway, BODY).chunks)
    asked = stream_raw(gateway, {**BODY, "stream_options": {"include_usage": True}}).chunks
    assert asked[-1]["usage"]["total_tokens"] == 4


def test_interleaved_tool_calls_keep_their_own_index(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    def call(index: int, **delta: object) -> dict[str, object]:
        return oa.chunk({"tool_calls": [{"index": index, **delta}]})

    chunks = [
        oa.chunk({"role": "assistant", "content": None}),
        call(0, id="call_x", type="function", function={"name": "f", "arguments": ""}),
        call(1, id="call_y", type="function", function={"name": "g", "arguments": ""}),
        call(1, function={"arguments": '{"b":'}),
        call(0, function={"arguments": '{"a":'}),
        call(0, function={"arguments": " 1}"}),
        call(1, function={"arguments": " 2}"}),
        oa.chunk({}, finish_reason="tool_calls"),
    ]
    gateway = serve(gateway_for, upstream, Reply.sse([oa.sse_body(chunks)]))
    arguments: dict[int, str] = {}
    with gateway.client().chat.completions.create(model="gpt-4o", messages=USER_HI, stream=True) as stream:
        for chunk in stream:
            for delta in chunk.choices[0].delta.tool_calls or []:
                if delta.function is not None:
                    arguments[delta.index] = arguments.get(delta.index, "") + (delta.function.arguments or "")
    assert arguments == {0: '{"a": 1}', 1: '{"b": 2}'}


def mid_stream_error_reply(error: dict[str, object]) -> Reply:
    head = oa.text_chunks(("Partial", " answer"))[:3]
    return Reply.sse([oa.sse_body(head, done=False), f"data: {orjson.dumps(error).decode()}\n\n"])


def test_mid_stream_error_is_an_error_event_not_done(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    error = oa.error_body("The server had an error while processing your request.", "server_error")
    gateway = serve(gateway_for, upstream, mid_stream_error_reply(error))
    raw = stream_raw(gateway, BODY)
    assert raw.status == 200
    assert_modelmux_headers(raw.headers, provider="openai-main", attempts=1)
    assert raw.text() == "Partial answer"
    assert not raw.done, "a failed stream must not end with [DONE]"
    assert raw.events[-1][0] == "error"
    assert_valid_error(raw.errors[0])
    assert raw.errors[0]["error"]["message"] == "The server had an error while processing your request."


def test_sdk_raises_api_error_on_a_mid_stream_error(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    error = oa.error_body("Model overloaded mid-answer", "server_error")
    gateway = serve(gateway_for, upstream, mid_stream_error_reply(error))
    received: list[str] = []
    with (
        pytest.raises(openai.APIError, match="Model overloaded mid-answer") as caught,
        gateway.client().chat.completions.create(model="gpt-4o", messages=USER_HI, stream=True) as stream,
    ):
        for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    assert not isinstance(caught.value, openai.APIStatusError)
    assert "".join(received) == "Partial answer"


@pytest.mark.parametrize("end", ["reset", "close"])
def test_upstream_connection_lost_mid_stream(gateway_for: GatewayFor, upstream: FakeServer, end: Ending) -> None:
    head = oa.sse_body(oa.text_chunks(("Half",))[:2], done=False)
    gateway = serve(gateway_for, upstream, Reply.sse([head, 0.05], end=end))
    raw = stream_raw(gateway, BODY)
    assert raw.text() == "Half"
    assert not raw.done
    assert raw.events[-1][0] == "error"
    assert_valid_error(raw.errors[0])


def test_upstream_ending_without_done_or_finish_is_an_error(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    head = oa.sse_body(oa.text_chunks(("Cut", " short"))[:3], done=False)
    gateway = serve(gateway_for, upstream, Reply.sse([head]))
    raw = stream_raw(gateway, BODY)
    assert raw.text() == "Cut short"
    assert not raw.done and raw.errors


def test_upstream_stalling_mid_stream_times_out_as_an_error_event(
    gateway_for: GatewayFor, upstream: FakeServer
) -> None:
    head = oa.sse_body(oa.text_chunks(("Slow",))[:2], done=False)
    gateway = serve(gateway_for, upstream, Reply.sse([head, 5.0, "data: [DONE]\n\n"]))
    raw = stream_raw(gateway, BODY)
    assert raw.text() == "Slow"
    assert not raw.done
    assert raw.errors and "Timeout" in raw.errors[0]["error"]["message"]


# The client goes away -------------------------------------------------------------------------------


WATCHED = """
version: 1
providers:
  - name: watched
    type: openai
    api_key: ${TEST_API_KEY}
    base_url: ${WATCHED_URL}/v1
    models: ["gpt-4o"]
"""


def first_chunk() -> bytes:
    return oa.sse_body([oa.chunk({"role": "assistant", "content": "Once upon"})], done=False)


def wait_for_cancel_outcome(gateway: Gateway) -> dict[str, object]:
    deadline = time.monotonic() + DISCONNECT_BOUND
    while True:
        providers = gateway.http().get("/admin/providers").json()["providers"]
        state: dict[str, object] = providers[0]
        if state["in_flight"] == 0 or time.monotonic() > deadline:
            return state
        time.sleep(0.02)


def test_client_disconnect_cancels_the_upstream_stream(start_gateway: GatewayStarter) -> None:
    with DisconnectWatcher(first_chunk()) as watched:
        gateway = start_gateway(WATCHED, {"WATCHED_URL": watched.url})
        with (
            httpx.Client(timeout=10, trust_env=False) as client,
            client.stream("POST", gateway.v1 + "/chat/completions", json={**BODY, "stream": True}) as response,
        ):
            pieces = response.iter_raw()  # kept: a dropped iterator may close the stream early
            first = next(pieces)
            assert b"Once upon" in first
            assert not watched.closed.is_set()
            disconnected = time.monotonic()
        assert watched.closed.wait(DISCONNECT_BOUND), "the upstream request outlived the client"
        assert watched.closed_at is not None and watched.closed_at - disconnected < DISCONNECT_BOUND
        state = wait_for_cancel_outcome(gateway)
        assert state["in_flight"] == 0
        assert state["outcomes"] == {"cancelled": 1}, "a client leaving is not a provider failure"


def test_sdk_closing_a_stream_cancels_the_upstream(start_gateway: GatewayStarter) -> None:
    with DisconnectWatcher(first_chunk()) as watched:
        gateway = start_gateway(WATCHED, {"WATCHED_URL": watched.url})
        stream = gateway.client().chat.completions.create(model="gpt-4o", messages=USER_HI, stream=True)
        assert next(iter(stream)).choices[0].delta.content == "Once upon"
        stream.close()
        assert watched.closed.wait(DISCONNECT_BOUND), "the upstream request outlived the client"


async def test_async_sdk_leaving_a_stream_cancels_the_upstream(start_gateway: GatewayStarter) -> None:
    with DisconnectWatcher(first_chunk()) as watched:
        gateway = start_gateway(WATCHED, {"WATCHED_URL": watched.url})
        async with gateway.async_client() as sdk:
            stream = await sdk.chat.completions.create(model="gpt-4o", messages=USER_HI, stream=True)
            async for chunk in stream:
                assert chunk.choices[0].delta.content == "Once upon"
                break
            await stream.close()
        assert watched.closed.wait(DISCONNECT_BOUND), "the upstream request outlived the client"


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream-before-first-chunk"])
def test_client_giving_up_before_an_answer_cancels_the_upstream(start_gateway: GatewayStarter, stream: bool) -> None:
    with DisconnectWatcher(b'{"id": "chatcmpl-never-finished", ') as watched:
        gateway = start_gateway(WATCHED, {"WATCHED_URL": watched.url})
        with pytest.raises(openai.APITimeoutError):
            gateway.client(timeout=0.5).chat.completions.create(model="gpt-4o", messages=USER_HI, stream=stream)
        assert watched.closed.wait(DISCONNECT_BOUND), "the upstream request outlived the client"
        assert wait_for_cancel_outcome(gateway)["outcomes"] == {"cancelled": 1}


async def test_concurrent_streams_stay_apart(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    pieces = ("Alpha", " beta", " gamma")
    split: list[bytes | float] = []
    for piece in oa.split_pieces(oa.sse_body(oa.text_chunks(pieces)), 64):
        split += [piece, 0.005]
    gateway = serve(gateway_for, upstream, Reply.sse(split))

    async def one(sdk: openai.AsyncOpenAI) -> tuple[set[str], str]:
        stream = await sdk.chat.completions.create(model="gpt-4o", messages=USER_HI, stream=True)
        ids, text = set(), ""
        async for chunk in stream:
            ids.add(chunk.id)
            text += chunk.choices[0].delta.content or ""
        return ids, text

    async with gateway.async_client() as sdk:
        results = await asyncio.gather(*(one(sdk) for _ in range(12)))
    assert [text for _, text in results] == ["Alpha beta gamma"] * 12
    assert all(len(ids) == 1 for ids, _ in results)
    assert len(set().union(*(ids for ids, _ in results))) == 12, "streams must not share an id"
    assert len(upstream.requests) == 12
