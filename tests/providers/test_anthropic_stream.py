"""Anthropic SSE -> OpenAI chunks: golden streams, fed whole, split at every byte, byte by byte."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelmux.providers.anthropic_response import AnthropicStreamDecoder
from modelmux.providers.base import UpstreamStreamError
from tests.conformance import assert_valid_chunk, assert_valid_error

TRANSCRIPTS = Path(__file__).resolve().parents[2] / "fixtures" / "transcripts"
STREAMS = [
    *sorted((TRANSCRIPTS / "anthropic").glob("stream_*.sse")),
    TRANSCRIPTS / "vertex_ai" / "stream_text.sse",
]
GOOD = [p for p in STREAMS if "expected_chunks" in json.loads(p.with_suffix(".json").read_text(encoding="utf-8"))]
STAMP = {"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 1735689600, "model": "claude"}


def expected(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    return data


def decode(pieces: list[bytes]) -> list[dict[str, Any]]:
    decoder = AnthropicStreamDecoder()
    chunks: list[dict[str, Any]] = []
    for piece in pieces:
        chunks.extend(decoder.feed(piece))
    chunks.extend(decoder.finish())
    return chunks


def cut(data: bytes, points: list[int]) -> list[bytes]:
    edges = [0, *sorted(points), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def ids(path: Path) -> str:
    return f"{path.parent.name}-{path.stem}"


@pytest.mark.parametrize("path", GOOD, ids=ids)
def test_golden_stream(path: Path) -> None:
    chunks = decode([path.read_bytes()])
    assert chunks == expected(path)["expected_chunks"]
    for chunk in chunks:
        assert set(chunk) <= {"choices", "usage"}
        assert_valid_chunk({**STAMP, **chunk})


@pytest.mark.parametrize("path", GOOD, ids=ids)
def test_split_at_every_byte_boundary(path: Path) -> None:
    data = path.read_bytes()
    assert any(b >= 0x80 for b in data), "each golden stream should hold multi-byte characters"
    want = expected(path)["expected_chunks"]
    for point in range(len(data) + 1):
        assert decode(cut(data, [point])) == want, f"split at byte {point}"


@pytest.mark.parametrize("path", GOOD, ids=ids)
def test_byte_by_byte(path: Path) -> None:
    data = path.read_bytes()
    assert decode([data[i : i + 1] for i in range(len(data))]) == expected(path)["expected_chunks"]


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(GOOD), st.lists(st.integers(min_value=0, max_value=4000), max_size=25))
def test_any_chunking(path: Path, points: list[int]) -> None:
    data = path.read_bytes()
    pieces = cut(data, [p % (len(data) + 1) for p in points])
    assert decode(pieces) == expected(path)["expected_chunks"]


def test_error_event_raises_with_the_unstreamed_status() -> None:
    path = TRANSCRIPTS / "anthropic" / "stream_error_overloaded.sse"
    want = expected(path)["expected_error"]
    for point in range(0, len(path.read_bytes()) + 1, 7):
        decoder = AnthropicStreamDecoder()
        chunks: list[dict[str, Any]] = []
        with pytest.raises(UpstreamStreamError) as caught:
            for piece in cut(path.read_bytes(), [point]):
                chunks.extend(decoder.feed(piece))
            decoder.finish()
        error = caught.value.error
        assert (error.status, error.type, error.code, error.message) == (
            want["status"],
            want["type"],
            want["code"],
            want["message"],
        )
        assert chunks == want["chunks_before"]
        assert_valid_error(error.body())


def _event(data: dict[str, Any]) -> bytes:
    return f"event: {data['type']}\ndata: {json.dumps(data)}\n\n".encode()


START = _event({"type": "message_start", "message": {"id": "m", "usage": {"input_tokens": 3, "output_tokens": 1}}})
TEXT = _event({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
HI = _event({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "hi"}})
DELTA = _event({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}})
STOP = _event({"type": "message_stop"})


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("invalid_request_error", 400),
        ("authentication_error", 401),
        ("permission_error", 403),
        ("not_found_error", 404),
        ("request_too_large", 413),
        ("rate_limit_error", 429),
        ("api_error", 500),
        ("overloaded_error", 529),
        ("something_new", 500),
    ],
)
def test_stream_error_types_map_to_statuses(name: str, error: int) -> None:
    with pytest.raises(UpstreamStreamError) as caught:
        decode([START + _event({"type": "error", "error": {"type": name, "message": "boom"}})])
    assert caught.value.error.status == error


def test_stream_cut_before_the_end_is_an_error() -> None:
    decoder = AnthropicStreamDecoder()
    decoder.feed(START + TEXT + HI)
    with pytest.raises(UpstreamStreamError) as caught:
        decoder.finish()
    assert caught.value.error.status == 502


def test_missing_message_stop_after_the_finish_reason_still_reports_usage() -> None:
    chunks = decode([START + TEXT + HI + DELTA])
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1] == {
        "choices": [],
        "usage": {
            "prompt_tokens": 3,
            "completion_tokens": 2,
            "total_tokens": 5,
            "prompt_tokens_details": {"cached_tokens": 0},
        },
    }


def test_message_stop_without_message_delta_still_finishes() -> None:
    chunks = decode([START + TEXT + HI + STOP])
    assert [c["choices"][0]["finish_reason"] for c in chunks[:-1]] == [None, None, "stop"]
    assert chunks[-1]["choices"] == []


def test_unknown_events_and_events_after_message_stop_are_ignored() -> None:
    future = _event({"type": "content_block_delta", "index": 0, "delta": {"type": "citations_delta", "citation": {}}})
    unknown = _event({"type": "brand_new_event", "x": 1})
    chunks = decode([START + TEXT + future + unknown + HI + DELTA + STOP + HI])
    assert [c["choices"][0]["delta"] for c in chunks if c["choices"]] == [
        {"role": "assistant", "content": "", "refusal": None},
        {"content": "hi"},
        {},
    ]


def test_malformed_event_data_is_a_502() -> None:
    with pytest.raises(UpstreamStreamError) as caught:
        decode([START + b"event: content_block_delta\ndata: {not json\n\n"])
    assert caught.value.error.status == 502


@pytest.mark.parametrize(
    "event",
    [
        {"type": "message_start", "message": "not an object"},
        {"type": "content_block_start", "index": "first", "content_block": {"type": "text"}},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": [1, 2]},
    ],
)
def test_malformed_event_structure_is_a_502(event: dict[str, Any]) -> None:
    with pytest.raises(UpstreamStreamError) as caught:
        decode([_event(event)])
    assert caught.value.error.status == 502


def test_an_error_in_the_same_read_as_good_events_comes_after_their_chunks() -> None:
    decoder = AnthropicStreamDecoder()
    failure = _event({"type": "error", "error": {"type": "api_error", "message": "boom"}})
    chunks = decoder.feed(START + TEXT + HI + failure)
    assert [c["choices"][0]["delta"] for c in chunks][-1] == {"content": "hi"}
    with pytest.raises(UpstreamStreamError):
        decoder.feed(b"")


def test_tool_input_present_at_block_start_is_sent_as_arguments() -> None:
    block = {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}
    start = _event({"type": "content_block_start", "index": 0, "content_block": block})
    stop = _event({"type": "content_block_stop", "index": 0})
    chunks = decode([START + start + stop + DELTA + STOP])
    calls = [
        c["choices"][0]["delta"]["tool_calls"][0]
        for c in chunks
        if c["choices"] and "tool_calls" in c["choices"][0]["delta"]
    ]
    assert calls == [
        {"index": 0, "id": "t1", "type": "function", "function": {"name": "f", "arguments": ""}},
        {"index": 0, "function": {"arguments": '{"a":1}'}},
    ]
