from __future__ import annotations

import email.utils
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelmux.plan.models import ProviderPlan, Secret
from modelmux.providers.base import CanonicalError, UpstreamStreamError, UpstreamTarget
from modelmux.providers.openai import (
    OpenAIAdapter,
    UpstreamProtocolError,
    error_from_response,
    fast_passthrough_body,
    retry_after_seconds,
)
from tests.conformance import (
    assert_valid_chat_completion,
    assert_valid_chunk,
    assert_valid_embeddings,
    assert_valid_error,
)
from tests.fakes import FakeServer, Reply
from tests.fakes import openai_like as fake
from tests.providers import transcripts

KIND = "openai"


def stamp(chunk: dict[str, Any]) -> dict[str, Any]:
    """What the executor adds to every chunk before a client sees it."""
    return {
        "id": "chatcmpl-modelmux",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4",
        **chunk,
    }


def adapter(base_url: str = "https://api.openai.com/v1", key: str | None = "sk-test") -> OpenAIAdapter:
    secret = None if key is None else Secret("${OPENAI_API_KEY}", key)
    return OpenAIAdapter(ProviderPlan(name="openai", type="openai", base_url=base_url, api_key=secret, wildcard=True))


def target_for(a: OpenAIAdapter) -> UpstreamTarget:
    return UpstreamTarget(a.provider, "gpt-4", "gpt-4o-2024-08-06")


def decode_sse(events: list[dict[str, Any] | str], *, done: bool = True) -> list[dict[str, Any]]:
    a = adapter()
    return transcripts.decode(a.stream_decoder(target_for(a)), [fake.sse_body(events, done=done)])


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as running:
        yield running


# Golden transcripts


@pytest.mark.parametrize("name", transcripts.names(KIND, "request_*.json"))
async def test_request_matches_transcript(name: str) -> None:
    await transcripts.replay_request(KIND, name)


@pytest.mark.parametrize("name", transcripts.names(KIND, "response_*.json"))
def test_response_keeps_every_field_but_model(name: str) -> None:
    parsed = transcripts.replay_response(KIND, name)
    assert parsed["model"] == transcripts.load(KIND, name)["target"]["public_model"]
    if name.startswith("response_embeddings"):
        assert_valid_embeddings(parsed)
    else:
        assert_valid_chat_completion(parsed)


@pytest.mark.parametrize("name", transcripts.names(KIND, "stream_*.sse"))
def test_stream_decodes_at_every_byte_boundary(name: str) -> None:
    a, target, raw, expected = transcripts.stream_case(KIND, name)
    transcripts.assert_decodes_at_every_boundary(a, target, raw, expected)
    for chunk in expected:
        assert_valid_chunk(stamp(chunk))


def test_stream_tool_call_deltas_rebuild_every_call() -> None:
    a, target, raw, _ = transcripts.stream_case(KIND, "stream_tool_calls.sse")
    calls: dict[int, dict[str, str]] = {}
    for chunk in transcripts.decode(a.stream_decoder(target), [raw]):
        for choice in chunk["choices"]:
            for delta in choice["delta"].get("tool_calls", ()):
                call = calls.setdefault(delta["index"], {"id": "", "name": "", "arguments": ""})
                call["id"] += delta.get("id", "")
                call["name"] += delta.get("function", {}).get("name", "")
                call["arguments"] += delta.get("function", {}).get("arguments", "")
    assert sorted(calls) == [0, 1, 2]
    assert orjson.loads(calls[0]["arguments"]) == {"city": "Zürich", "unit": "c"}
    assert orjson.loads(calls[1]["arguments"]) == {"city": "Tōkyō", "unit": "c"}
    assert calls[2]["name"] == "get_time"


def test_stream_text_reassembles_multibyte_utf8() -> None:
    _, _, _, expected = transcripts.stream_case(KIND, "stream_text.sse")
    text = "".join(choice["delta"].get("content") or "" for chunk in expected for choice in chunk["choices"])
    assert text == "Zürich: 4 °C, light rain. 東京: 18 °C ☀️ 👋🏽"
    assert expected[-1] == {
        "choices": [],
        "usage": fake.usage(31, 14),
        "system_fingerprint": fake.FINGERPRINT,
        "service_tier": "default",
    }


def test_error_transcripts() -> None:
    for name, actual, expected in transcripts.replay_errors(KIND):
        assert actual == expected, name
        assert_valid_error(CanonicalError(**actual).body())


# Errors


def test_retry_after_ms_wins_over_retry_after() -> None:
    assert retry_after_seconds({"retry-after": "20", "retry-after-ms": "1500"}) == 1.5


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    now = 1_700_000_000.0
    future = email.utils.formatdate(now + 30, usegmt=True)
    assert retry_after_seconds({"Retry-After": "2.5"}) == 2.5
    assert retry_after_seconds({"Retry-After": future}, now=now) == 30.0
    assert retry_after_seconds(httpx.Headers({"RETRY-AFTER": "-4"})) == 0.0


@pytest.mark.parametrize("value", ["soon", "", "nan", "inf", "Mon, 99 Foo 2024"])
def test_unusable_retry_after_is_ignored(value: str) -> None:
    assert retry_after_seconds({"retry-after": value}) is None


def test_error_fields_that_are_not_strings_become_strings() -> None:
    body = orjson.dumps({"error": {"message": "busy", "type": "server_error", "code": 503, "param": ["messages", 0]}})
    error = error_from_response(503, {}, body)
    assert (error.code, error.param) == ("503", '["messages",0]')


@given(status=st.integers(400, 599), payload=st.binary(max_size=300))
def test_parse_error_never_raises(status: int, payload: bytes) -> None:
    error = adapter().parse_error(status, {"retry-after": "x"}, payload)
    assert error.status == status
    assert error.message and isinstance(error.type, str)
    assert_valid_error(error.body())


def test_html_error_page_becomes_a_clean_message() -> None:
    page = b"<html><head><style>p{}</style></head><body><h1>Bad gateway</h1><p>Try later</p></body></html>"
    error = adapter().parse_error(502, {"content-type": "text/html"}, page)
    assert error.message == "upstream returned HTTP 502 with a non-JSON body: Bad gateway Try later"
    assert error.type == "server_error"


# Streams


def test_error_event_in_stream_raises_with_its_fields() -> None:
    events: list[dict[str, Any] | str] = [
        fake.chunk({"content": "Hi"}),
        fake.error_body("Overloaded", "server_error"),
    ]
    with pytest.raises(UpstreamStreamError) as caught:
        decode_sse(events)
    assert caught.value.error == CanonicalError(500, "Overloaded", "server_error")


def test_rate_limit_error_event_gets_status_429() -> None:
    with pytest.raises(UpstreamStreamError) as caught:
        decode_sse([fake.error_body("Slow down", "rate_limit_error", code="rate_limit_exceeded")])
    assert (caught.value.error.status, caught.value.error.code) == (429, "rate_limit_exceeded")


def test_event_that_is_not_json_is_a_protocol_error() -> None:
    with pytest.raises(UpstreamProtocolError) as caught:
        decode_sse(["{not json"])
    assert caught.value.error.status == 502


def test_stream_cut_before_finish_and_done_is_an_error() -> None:
    with pytest.raises(UpstreamProtocolError, match=r"before \[DONE\]"):
        decode_sse([fake.chunk({"content": "Hel"})], done=False)


def test_stream_without_done_after_every_choice_finished_is_complete() -> None:
    chunks = decode_sse([fake.chunk({"content": "Hi"}), fake.chunk({}, finish_reason="stop")], done=False)
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None, "stop"]


def test_comments_and_events_after_done_are_ignored() -> None:
    a = adapter()
    raw = b": keep-alive\n\n" + fake.sse_body(fake.text_chunks(["Hi"])) + b"data: {broken\n\n"
    chunks = transcripts.decode(a.stream_decoder(target_for(a)), [raw])
    assert [c["choices"][0]["delta"] for c in chunks] == [
        {"role": "assistant", "content": "", "refusal": None},
        {"content": "Hi"},
        {},
    ]


def test_chunks_keep_only_choices_usage_fingerprint_and_tier() -> None:
    event = {**fake.chunk({"content": "x"}), "system_fingerprint": None, "obfuscation": "abc"}
    assert decode_sse([event, fake.chunk({}, finish_reason="stop")])[0] == {
        "choices": event["choices"],
        "service_tier": "default",
    }


# Requests


async def test_build_chat_does_not_touch_the_client_body() -> None:
    body = {"model": "gpt-4", "messages": [], "stream": True, "stream_options": {"include_usage": True}}
    copy = orjson.loads(orjson.dumps(body))
    a = adapter()
    request = await a.build_chat(body, target_for(a), stream=False)
    assert body == copy
    assert orjson.loads(request.content) == {"model": "gpt-4o-2024-08-06", "messages": []}


async def test_request_carries_the_provider_timeouts() -> None:
    a = adapter()
    request = await a.build_chat({"messages": []}, target_for(a), stream=True)
    assert request.extensions["timeout"] == {"connect": 10.0, "read": 600.0, "write": 600.0, "pool": 600.0}


async def test_provider_headers_and_options_are_sent() -> None:
    provider = ProviderPlan(
        name="openai",
        type="openai",
        base_url="https://api.openai.com/v1/",
        api_key=Secret("${K}", "sk-1"),
        headers=(("OpenAI-Project", Secret("${P}", "proj_1")),),
        options={"organization": "org-1"},
    )
    a = OpenAIAdapter(provider)
    request = await a.build_chat({"messages": []}, target_for(a), stream=False)
    assert str(request.url) == "https://api.openai.com/v1/chat/completions"
    assert request.headers["openai-project"] == "proj_1"
    assert request.headers["openai-organization"] == "org-1"


def test_fast_passthrough_body_rewrites_only_the_model() -> None:
    raw = b'{"model":"gpt-4","messages":[{"role":"user","content":"h\xc3\xa9"}],"n":1}'
    assert orjson.loads(fast_passthrough_body(raw, "gpt-4o")) == {**orjson.loads(raw), "model": "gpt-4o"}
    with pytest.raises(ValueError):
        fast_passthrough_body(b"[]", "gpt-4o")


def test_parse_chat_rejects_bodies_that_are_not_completions() -> None:
    a = adapter()
    with pytest.raises(UpstreamProtocolError):
        a.parse_chat(b"<html>oops</html>", target_for(a))
    with pytest.raises(UpstreamStreamError) as caught:
        a.parse_chat(orjson.dumps(fake.error_body("nope", "invalid_request_error")), target_for(a))
    assert caught.value.error.status == 400


# Over the wire, against the fake upstream


async def test_json_round_trip_over_http(server: FakeServer) -> None:
    upstream = fake.chat_completion("Hi there")
    server.script("POST", "/v1/chat/completions", Reply.json(upstream, headers=fake.response_headers()))
    a = adapter(server.url_for("/v1"))
    request = await a.build_chat(
        {"model": "gpt-4", "messages": [{"role": "user", "content": "Hi"}]}, target_for(a), stream=False
    )
    async with httpx.AsyncClient() as client:
        response = await client.send(request)
    parsed = a.parse_chat(response.content, target_for(a))
    assert parsed == {**upstream, "model": "gpt-4"}
    assert_valid_chat_completion(parsed)
    (received,) = server.requests
    assert received.header("authorization") == "Bearer sk-test"
    assert received.json()["model"] == "gpt-4o-2024-08-06"


async def test_stream_split_across_tcp_writes(server: FakeServer) -> None:
    raw = fake.sse_body(fake.text_chunks(["Καλη", "μέρα 🌅"], include_usage=True))
    cut = raw.index("🌅".encode()) + 2
    server.script("POST", "/v1/chat/completions", Reply.sse([raw[:40], 0.01, raw[40:cut], 0.01, raw[cut:]]))
    a = adapter(server.url_for("/v1"))
    request = await a.build_chat({"messages": []}, target_for(a), stream=True)
    decoder = a.stream_decoder(target_for(a))
    chunks = []
    async with httpx.AsyncClient() as client:
        response = await client.send(request, stream=True)
        async for data in response.aiter_raw():
            chunks += decoder.feed(data)
        await response.aclose()
    chunks += decoder.finish()
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "Καλημέρα 🌅"
    assert chunks[-1]["usage"]["total_tokens"] == 29
    assert server.requests[0].header("accept") == "text/event-stream"


async def test_rate_limit_over_http(server: FakeServer) -> None:
    body, headers = fake.rate_limit_error(retry_after="20", retry_after_ms="250")
    server.script("POST", "/v1/chat/completions", Reply.json(body, status=429, headers=headers))
    a = adapter(server.url_for("/v1"))
    async with httpx.AsyncClient() as client:
        response = await client.send(await a.build_chat({"messages": []}, target_for(a), stream=False))
    error = a.parse_error(response.status_code, response.headers, response.content)
    assert (error.status, error.type, error.code, error.retry_after) == (
        429,
        "tokens",
        "rate_limit_exceeded",
        0.25,
    )


async def test_embeddings_over_http(server: FakeServer) -> None:
    server.script("POST", "/v1/embeddings", Reply.json(fake.embeddings([[0.1, 0.2]], model="text-embedding-3-small")))
    a = adapter(server.url_for("/v1"))
    target = UpstreamTarget(a.provider, "embed", "text-embedding-3-small")
    async with httpx.AsyncClient() as client:
        response = await client.send(await a.build_embeddings({"model": "embed", "input": "hi"}, target))
    parsed = a.parse_embeddings(response.content, target)
    assert parsed["model"] == "embed"
    assert_valid_embeddings(parsed)
    assert server.requests[0].json() == {"model": "text-embedding-3-small", "input": "hi"}


async def test_built_requests_reuse_parsed_urls_up_to_a_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("modelmux.providers.openai.MAX_PARSED_URLS", 2)
    a = adapter("http://127.0.0.1:9/v1")
    first = await a.build_chat({"model": "gpt-4", "messages": []}, target_for(a), stream=False)
    second = await a.build_chat({"model": "gpt-4", "messages": []}, target_for(a), stream=True)
    assert str(first.url) == str(second.url) == "http://127.0.0.1:9/v1/chat/completions"
    assert second.headers["accept"] == "text/event-stream" and first.headers["accept"] == "application/json"
    assert second.headers["authorization"] == "Bearer sk-test"
    for index in range(5):
        built = a.request(f"http://127.0.0.1:9/v1/x{index}", {})
        assert built.url.path == f"/v1/x{index}"
    assert len(a._parsed_urls) == 2
