"""Cohere v2: golden transcripts (requests, responses, streams, errors, embeddings), a fake upstream over
HTTP, and the edge cases of the translation; every OpenAI object is checked against OpenAI's schemas."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from modelmux.errors import RequestError
from modelmux.plan.models import ProviderPlan, Secret
from modelmux.providers.base import CanonicalError, UpstreamStreamError, UpstreamTarget
from modelmux.providers.cohere import CohereAdapter, CohereStreamDecoder
from modelmux.providers.cohere_translate import finish_reason, openai_usage, to_cohere_request
from modelmux.providers.registry import adapter_for
from tests.conformance import (
    assert_valid_chat_completion,
    assert_valid_chunk,
    assert_valid_embeddings,
    assert_valid_error,
)
from tests.fakes import FakeServer, Reply
from tests.fakes import cohere_like as fake
from tests.providers import transcripts

KIND = "cohere"
STAMP = {"id": "chatcmpl-modelmux", "object": "chat.completion.chunk", "created": 1, "model": "command"}


def adapter(base_url: str = "", key: str | None = "co-test-key") -> CohereAdapter:
    secret = None if key is None else Secret("${COHERE_API_KEY}", key)
    return CohereAdapter(ProviderPlan(name="cohere", type=KIND, base_url=base_url, api_key=secret))


def target(a: CohereAdapter, upstream: str = fake.MODEL, public: str = "command") -> UpstreamTarget:
    return UpstreamTarget(a.provider, public, upstream)


def decode(raw: bytes, pieces: int = 1) -> list[dict[str, Any]]:
    size = max(1, len(raw) // pieces)
    return transcripts.decode(CohereStreamDecoder(), [raw[i : i + size] for i in range(0, len(raw), size)])


def tool_calls_of(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    for chunk in chunks:
        for choice in chunk["choices"]:
            calls += choice["delta"].get("tool_calls", [])
    return calls


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as running:
        yield running


# Golden transcripts ---------------------------------------------------------------------------------


def test_the_registry_serves_cohere_with_this_adapter() -> None:
    assert type(adapter_for(adapter().provider)) is CohereAdapter


@pytest.mark.parametrize("name", transcripts.names(KIND, "request_*.json"))
async def test_request_matches_transcript(name: str) -> None:
    await transcripts.replay_request(KIND, name)


def replay_response(name: str) -> dict[str, Any]:
    """Parse a response transcript; `created` (which Cohere does not send) is masked as <generated>."""
    case = transcripts.load(KIND, name)
    a = adapter()
    spec = case["target"]
    payload = orjson.dumps(case["upstream"])
    parse = a.parse_embeddings if name.startswith("response_embeddings") else a.parse_chat
    actual = parse(payload, target(a, spec["upstream_model"], spec["public_model"]))
    masked = json.loads(json.dumps(actual))
    if "created" in masked:
        assert isinstance(masked["created"], int) and masked["created"] > 1_700_000_000
        masked["created"] = "<generated>"
    if transcripts.UPDATE:
        path = transcripts.ROOT / KIND / name
        path.write_text(json.dumps({**case, "expected": masked}, indent=2, ensure_ascii=False) + "\n")
        case = transcripts.load(KIND, name)
    assert masked == case["expected"]
    return actual


@pytest.mark.parametrize("name", transcripts.names(KIND, "response_*.json"))
def test_response_matches_transcript_and_openai_schema(name: str) -> None:
    parsed = replay_response(name)
    if name.startswith("response_embeddings"):
        assert_valid_embeddings(parsed)
    else:
        assert_valid_chat_completion(parsed)
        assert parsed["model"] == "command"


@pytest.mark.parametrize("name", transcripts.names(KIND, "stream_*.sse"))
def test_stream_decodes_at_every_byte_boundary(name: str) -> None:
    a, t, raw, expected = transcripts.stream_case(KIND, name)
    assert any(byte >= 0x80 for byte in raw), "golden streams should hold multi-byte characters"
    transcripts.assert_decodes_at_every_boundary(a, t, raw, expected)
    for chunk in expected:
        assert set(chunk) <= {"choices", "usage"}
        assert_valid_chunk({**STAMP, **chunk})
    assert expected[0]["choices"][0]["delta"]["role"] == "assistant"
    assert expected[-1]["choices"] == [] and expected[-1]["usage"]["total_tokens"] > 0
    finishes = [c["finish_reason"] for chunk in expected for c in chunk["choices"]]
    assert finishes.count(None) == len(finishes) - 1 and finishes[-1] is not None


def test_tool_call_stream_gives_each_call_its_own_index() -> None:
    _, _, _, expected = transcripts.stream_case(KIND, "stream_tool_calls.sse")
    calls = tool_calls_of(expected)
    starts = [call for call in calls if "id" in call]
    assert [(c["index"], c["id"], c["function"]["name"]) for c in starts] == [
        (0, "get_weather_8f7e6d5c4b3a", "get_weather"),
        (1, "get_time_1a2b3c4d5e6f", "get_time"),
    ]
    arguments = {0: "", 1: ""}
    for call in calls:
        arguments[call["index"]] += call["function"]["arguments"]
    assert {i: json.loads(text) for i, text in arguments.items()} == {0: {"city": "Zürich"}, 1: {}}
    assert expected[-2]["choices"][0]["finish_reason"] == "tool_calls"


@pytest.mark.parametrize("name", transcripts.names(KIND, "failed_*.sse"))
def test_failed_stream_raises_after_the_chunks_so_far(name: str) -> None:
    raw = (transcripts.ROOT / KIND / name).read_bytes()
    case = transcripts.load(KIND, name.removesuffix(".sse") + ".json")
    for cut in range(len(raw) + 1):
        decoder, chunks = CohereStreamDecoder(), []
        with pytest.raises(UpstreamStreamError) as caught:
            for piece in (raw[:cut], raw[cut:]):
                chunks += decoder.feed(piece)
            decoder.finish()
        actual = dataclasses.asdict(caught.value.error)
        if transcripts.UPDATE and cut == 0:
            case = {**case, "expected_error": actual, "chunks_before": chunks}
            (transcripts.ROOT / KIND / name.replace(".sse", ".json")).write_text(
                json.dumps(case, indent=2, ensure_ascii=False) + "\n"
            )
        assert actual == case["expected_error"], f"split at byte {cut}"
        assert chunks == case["chunks_before"], f"split at byte {cut}"
    assert_valid_error(caught.value.error.body())


def test_errors_match_transcript() -> None:
    for name, actual, expected in transcripts.replay_errors(KIND):
        assert actual == expected, name
        assert_valid_error(CanonicalError(**actual).body())


# Over HTTP, against a fake Cohere --------------------------------------------------------------------


async def test_chat_round_trip_through_a_fake_cohere(server: FakeServer) -> None:
    reply = fake.chat_response("Bonjour !", id="e2e-1", usage_=fake.usage(5, 3))
    server.script("POST", "/v2/chat", Reply.json(reply, headers={"x-api-warning": "none"}))
    a = adapter(server.url)
    body = {"model": "command", "messages": [{"role": "user", "content": "Salut"}], "top_p": 0.5}
    async with httpx.AsyncClient() as client:
        response = await client.send(await a.build_chat(body, target(a), stream=False))
    [sent] = server.requests
    assert sent.header("authorization") == "Bearer co-test-key"
    assert sent.json() == {"model": fake.MODEL, "messages": body["messages"], "p": 0.5}
    parsed = a.parse_chat(response.content, target(a))
    assert_valid_chat_completion(parsed)
    assert parsed["choices"][0]["message"]["content"] == "Bonjour !"
    assert parsed["usage"] == {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}


async def test_stream_through_a_fake_cohere_split_mid_character(server: FakeServer) -> None:
    raw = fake.sse_body(
        fake.stream_events(
            (
                "Grüß ",
                "Gott 👋",
            )
        ),
        done=True,
    )
    cut = raw.index("ß".encode()) + 1  # inside the two bytes of ß
    server.script("POST", "/v2/chat", Reply.stream([raw[:cut], 0.01, raw[cut:]]))
    a = adapter(server.url)
    body = {"model": "command", "messages": [{"role": "user", "content": "Hallo"}], "stream": True}
    decoder, chunks = a.stream_decoder(target(a)), []
    async with httpx.AsyncClient() as client:
        response = await client.send(await a.build_chat(body, target(a), stream=True), stream=True)
        async for data in response.aiter_bytes():
            chunks += decoder.feed(data)
        await response.aclose()
    chunks += decoder.finish()
    assert server.requests[0].json()["stream"] is True
    assert server.requests[0].header("accept") == "text/event-stream"
    assert chunks == decode(raw)
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "Grüß Gott 👋"
    for chunk in chunks:
        assert_valid_chunk({**STAMP, **chunk})


async def test_rate_limit_through_a_fake_cohere(server: FakeServer) -> None:
    body = fake.error_body("You are using a Trial key, which is limited to 10 API calls / minute.")
    server.script("POST", "/v2/chat", Reply.json(body, status=429, headers={"retry-after": "7"}))
    a = adapter(server.url)
    request = await a.build_chat({"messages": [{"role": "user", "content": "x"}]}, target(a), stream=False)
    async with httpx.AsyncClient() as client:
        response = await client.send(request)
    error = a.parse_error(response.status_code, response.headers, response.content)
    assert (error.status, error.code, error.retry_after) == (429, "rate_limit_exceeded", 7.0)
    assert error.message.startswith("You are using a Trial key")


async def test_embeddings_through_a_fake_cohere(server: FakeServer) -> None:
    server.script("POST", "/v2/embed", Reply.json(fake.embed_response([[0.1, 0.2], [0.3, 0.4]], ["a", "b"])))
    a = adapter(server.url)
    t = target(a, fake.EMBED_MODEL, "embed")
    async with httpx.AsyncClient() as client:
        response = await client.send(await a.build_embeddings({"input": ["a", "b"]}, t))
    assert server.requests[0].json() == {
        "model": fake.EMBED_MODEL,
        "texts": ["a", "b"],
        "input_type": "search_document",
        "embedding_types": ["float"],
    }
    parsed = a.parse_embeddings(response.content, t)
    assert_valid_embeddings(parsed)
    assert [item["embedding"] for item in parsed["data"]] == [[0.1, 0.2], [0.3, 0.4]]
    assert parsed["usage"] == {"prompt_tokens": 6, "total_tokens": 6}


# Translation edge cases -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "calls", "expected"),
    [
        ("COMPLETE", False, "stop"),
        ("STOP_SEQUENCE", False, "stop"),
        ("MAX_TOKENS", False, "length"),
        ("TOOL_CALL", True, "tool_calls"),
        ("TOOL_CALL", False, "stop"),
        ("SOMETHING_NEW", False, "stop"),
        (None, False, "stop"),
    ],
)
def test_finish_reasons(reason: Any, calls: bool, expected: str) -> None:
    assert finish_reason(reason, tool_calls=calls) == expected


@pytest.mark.parametrize(("reason", "status"), [("ERROR", 500), ("TIMEOUT", 504)])
def test_failed_generations_are_errors(reason: str, status: int) -> None:
    with pytest.raises(UpstreamStreamError) as caught:
        payload = orjson.dumps(fake.chat_response("partial", finish_reason=reason))
        adapter().parse_chat(payload, target(adapter()))
    assert caught.value.error.status == status
    with pytest.raises(UpstreamStreamError) as streamed:
        decode(fake.sse_body(fake.stream_events(("partial",), finish_reason=reason)))
    assert streamed.value.error.status == status


def test_usage_prefers_billed_units_and_keeps_cached_tokens() -> None:
    assert openai_usage({**fake.usage(10, 4, raw_input=600), "cached_tokens": 3}) == {
        "prompt_tokens": 10,
        "completion_tokens": 4,
        "total_tokens": 14,
        "prompt_tokens_details": {"cached_tokens": 3},
    }
    assert openai_usage(None) == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"n": 2, "messages": []}, "n"),
        ({"messages": [{"role": "function", "name": "f", "content": "x"}]}, "messages[0].role"),
        (
            {"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]},
            "messages[0].content[0]",
        ),
        ({"messages": [{"role": "system", "content": [{"type": "image_url"}]}]}, "messages[0].content[0]"),
        ({"messages": [], "tools": [{"type": "custom", "custom": {"name": "x"}}]}, "tools[0].type"),
        (
            {
                "messages": [],
                "tools": [{"type": "function", "function": {"name": "a"}}],
                "tool_choice": {"type": "function", "function": {"name": "b"}},
            },
            "tool_choice",
        ),
        ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]}, None),
    ],
)
def test_untranslatable_requests_are_400s(body: dict[str, Any], param: str | None) -> None:
    with pytest.raises(RequestError) as caught:
        to_cohere_request(body, model="m", stream=False)
    assert caught.value.status == 400
    if param is not None:
        assert caught.value.param == param


async def test_token_array_embedding_input_is_a_400() -> None:
    a = adapter()
    with pytest.raises(RequestError) as caught:
        await a.build_embeddings({"input": [[1, 2, 3]]}, target(a, fake.EMBED_MODEL))
    assert caught.value.param == "input"


def test_legacy_embeddings_list_shape_is_read() -> None:
    a = adapter()
    payload = orjson.dumps({"id": "x", "embeddings": [[1.0, 2.0]], "texts": ["t"], "meta": {}})
    parsed = a.parse_embeddings(payload, target(a, "embed-english-v2.0", "embed"))
    assert parsed["data"] == [{"object": "embedding", "index": 0, "embedding": [1.0, 2.0]}]
    assert parsed["usage"] == {"prompt_tokens": 0, "total_tokens": 0}


@pytest.mark.parametrize("payload", [b"not json", b"[1, 2]", b'{"message": 5}', b'{"embeddings": 3}'])
def test_malformed_responses_are_502s(payload: bytes) -> None:
    a = adapter()
    parse = a.parse_embeddings if b"embeddings" in payload else a.parse_chat
    with pytest.raises(UpstreamStreamError) as caught:
        parse(payload, target(a))
    assert caught.value.error.status == 502


def _events(*events: dict[str, Any]) -> bytes:
    return fake.sse_body(events)


START = {"id": "x", "type": "message-start", "delta": {"message": {"role": "assistant"}}}
END = {"type": "message-end", "delta": {"finish_reason": "COMPLETE", "usage": fake.usage(1, 1)}}


def test_error_event_and_malformed_data_raise() -> None:
    with pytest.raises(UpstreamStreamError) as caught:
        decode(_events(START) + b'event: error\ndata: {"message": "upstream overloaded"}\n\n')
    assert (caught.value.error.status, caught.value.error.message) == (500, "upstream overloaded")
    with pytest.raises(UpstreamStreamError) as malformed:
        decode(_events(START) + b"event: content-delta\ndata: {oops\n\n")
    assert malformed.value.error.status == 502


def test_an_error_after_good_events_in_one_read_comes_on_the_next_call() -> None:
    decoder = CohereStreamDecoder()
    chunks = decoder.feed(_events(START) + b'event: error\ndata: {"message": "boom"}\n\n')
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    with pytest.raises(UpstreamStreamError):
        decoder.finish()


def test_done_marker_unknown_events_and_events_after_message_end_are_ignored() -> None:
    citation = {"type": "citation-start", "index": 0, "delta": {"message": {"citations": {}}}}
    text = {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": "late"}}}}
    raw = _events(START, citation, {"type": "debug", "prompt": "..."}, END, text) + b"data: [DONE]\n\n"
    chunks = decode(raw)
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]] == [None, "stop"]
    assert chunks[-1]["usage"]["total_tokens"] == 2


def test_a_tool_call_without_arguments_gets_an_empty_object() -> None:
    start = {
        "type": "tool-call-start",
        "index": 0,
        "delta": {"message": {"tool_calls": [{"id": "t_1", "type": "function", "function": {"name": "n"}}]}},
    }
    chunks = decode(_events(START, start, {"type": "tool-call-end", "index": 0}, END))
    calls = [call for c in chunks if c["choices"] for call in c["choices"][0]["delta"].get("tool_calls", ())]
    assert calls == [
        {"index": 0, "id": "t_1", "type": "function", "function": {"name": "n", "arguments": ""}},
        {"index": 0, "function": {"arguments": "{}"}},
    ]
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"  # COMPLETE, even with a call


def test_no_api_key_means_no_authorization_header() -> None:
    request = adapter(key=None).request("/v2/chat", {})
    assert "authorization" not in request.headers
    assert str(request.url) == "https://api.cohere.com/v2/chat"
