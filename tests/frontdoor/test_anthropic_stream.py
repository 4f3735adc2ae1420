"""OpenAI chunk SSE -> Anthropic SSE: golden streams, fed whole and split at every byte, each event
validated with the `anthropic` SDK's types and accumulated by the SDK into the final message."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import RawMessageStreamEvent
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from modelmux.frontdoor.anthropic_response import to_anthropic_message
from modelmux.frontdoor.anthropic_stream import AnthropicStreamTranslator, anthropic_events, message_events
from tests.fakes import openai_like as oa
from tests.frontdoor.anthropic_checks import assert_valid_message, assert_valid_stream, events_of
from tests.frontdoor.goldens import ROOT, expect, load, names

MODEL = "claude-sonnet-4-5"
STREAMS = names("stream_*.sse")
EVENT: TypeAdapter[Any] = TypeAdapter(RawMessageStreamEvent)


def translate(pieces: list[bytes], input_tokens: int = 7) -> bytes:
    translator = AnthropicStreamTranslator("msg_golden", MODEL, input_tokens, request_id="req_golden")
    out = translator.start()
    for piece in pieces:
        out += translator.feed(piece)
    return b"".join(out + translator.finish())


def final_message(events: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """What the SDK's `get_final_message()` builds from the events."""
    snapshot = None
    buffers: dict[int, bytes] = {}
    for name, data in events:
        if name not in ("ping", "error"):
            snapshot = accumulate_event(event=EVENT.validate_python(data), current_snapshot=snapshot, json_bufs=buffers)
    assert snapshot is not None
    return dict(snapshot.to_dict(mode="json", exclude_none=True))


@pytest.mark.parametrize("name", STREAMS)
def test_golden_stream(name: str) -> None:
    golden = name.removesuffix(".sse") + ".json"
    raw = translate([(ROOT / name).read_bytes()], load(golden)["input_tokens"])
    events = events_of(raw)
    assert [list(event) for event in events] == expect(golden, "expected_events", [list(e) for e in events])
    assert_valid_stream(events)
    assert raw.endswith(b"\n\n") and all(name for name, _ in events)


@pytest.mark.parametrize("name", STREAMS)
def test_split_at_every_byte_boundary(name: str) -> None:
    raw = (ROOT / name).read_bytes()
    whole = translate([raw])
    assert translate([raw[i : i + 1] for i in range(len(raw))]) == whole
    for cut in range(len(raw) + 1):
        assert translate([raw[:cut], raw[cut:]]) == whole, f"split at byte {cut}"


def test_the_sdk_accumulates_text_and_usage() -> None:
    message = final_message(events_of(translate([(ROOT / "stream_text.sse").read_bytes()], 21)))
    assert message["content"] == [{"type": "text", "text": "Hello! How can I help?"}]
    assert message["stop_reason"] == "end_turn"
    assert message["usage"] == {
        "input_tokens": 17,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 8,
        "output_tokens": 9,
    }


def test_the_sdk_accumulates_tool_input() -> None:
    message = final_message(events_of(translate([(ROOT / "stream_tool_calls.sse").read_bytes()])))
    assert [block["type"] for block in message["content"]] == ["text", "tool_use", "tool_use"]
    assert message["content"][1] == {
        "type": "tool_use",
        "id": "call_A1",
        "name": "get_weather",
        "input": {"city": "Paris"},
    }
    assert message["content"][2]["input"] == {}
    assert message["stop_reason"] == "tool_use"


def test_without_a_usage_chunk_the_estimate_stays() -> None:
    message = final_message(events_of(translate([(ROOT / "stream_tool_name_late.sse").read_bytes()], 12)))
    assert message["usage"]["input_tokens"] == 12 and message["usage"]["output_tokens"] == 0
    assert message["content"] == [{"type": "tool_use", "id": "call_X", "name": "lookup", "input": {"q": "x"}}]


def test_nothing_follows_an_error_event() -> None:
    raw = (ROOT / "stream_error.sse").read_bytes() + oa.sse_body([oa.chunk({"content": "late"})])
    events = events_of(translate([raw]))
    assert events[-1][0] == "error"
    assert events[-1][1]["request_id"] == "req_golden"


def test_a_late_piece_for_a_closed_tool_block_still_reaches_it() -> None:
    """Upstreams that interleave parallel calls: each piece goes to its own call's block."""
    chunks = [
        oa.chunk(
            {
                "tool_calls": [
                    {"index": 0, "id": "c0", "type": "function", "function": {"name": "a", "arguments": '{"x"'}}
                ]
            }
        ),
        oa.chunk(
            {"tool_calls": [{"index": 1, "id": "c1", "type": "function", "function": {"name": "b", "arguments": "{}"}}]}
        ),
        oa.chunk({"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]}),
        oa.chunk({}, finish_reason="tool_calls"),
    ]
    message = final_message(events_of(translate([oa.sse_body(chunks)])))
    assert [block["input"] for block in message["content"]] == [{"x": 1}, {}]


@pytest.mark.parametrize("name", ["response_text.json", "response_tool_use.json", "response_max_tokens.json"])
def test_a_json_outcome_streams_as_the_same_message(name: str) -> None:
    case = load(name)
    message = to_anthropic_message(case["openai_completion"], MODEL, "msg_golden")
    events = events_of(b"".join(message_events(message)))
    assert_valid_stream(events)
    rebuilt = final_message(events)
    assert_valid_message(rebuilt)
    assert rebuilt == {key: value for key, value in message.items() if value is not None}


async def test_the_upstream_stream_is_closed_when_the_client_goes_away() -> None:
    closed: list[bool] = []

    async def upstream() -> AsyncIterator[bytes]:
        try:
            for chunk in oa.text_chunks(("a", "b", "c")):
                yield oa.sse_body([chunk], done=False)
        finally:
            closed.append(True)

    events = anthropic_events(upstream(), AnthropicStreamTranslator("msg_x", MODEL, 1))
    first = await anext(events)
    assert first.startswith(b"event: message_start")
    await anext(events)
    await events.aclose()
    assert closed == [True]


def test_events_carry_their_type_as_their_name() -> None:
    raw = translate([(ROOT / "stream_tool_calls.sse").read_bytes()])
    for block in raw.split(b"\n\n")[:-1]:
        head, data = block.split(b"\n")
        assert head.removeprefix(b"event: ") == orjson.loads(data.removeprefix(b"data: "))["type"].encode()


TEXT = st.text(min_size=1, max_size=5)
ARGS = st.dictionaries(
    st.sampled_from(["city", "n"]), st.one_of(st.integers(-1000, 1000), st.text(max_size=4)), max_size=2
)
TOOL = st.tuples(st.sampled_from(["a", "bb"]), ARGS, st.lists(st.integers(min_value=0, max_value=30), max_size=3))


@settings(max_examples=150, deadline=None)
@given(
    texts=st.lists(TEXT, max_size=4),
    tools=st.lists(TOOL, max_size=3),
    finish=st.sampled_from(["stop", "length", "tool_calls", "content_filter", None]),
    usage=st.booleans(),
)
def test_any_sequential_stream_makes_a_valid_anthropic_stream(
    texts: list[str], tools: list[tuple[str, dict[str, Any], list[int]]], finish: str | None, usage: bool
) -> None:
    chunks = [oa.chunk({"role": "assistant", "content": ""})]
    chunks += [oa.chunk({"content": text}) for text in texts]
    for index, (name, arguments, cuts) in enumerate(tools):
        text = orjson.dumps(arguments).decode() if arguments or cuts else ""
        edges = [0, *sorted(min(cut, len(text)) for cut in cuts), len(text)]
        pieces = [text[a:b] for a, b in itertools.pairwise(edges)]
        first = {"index": index, "id": f"call_{index}", "type": "function", "function": {"name": name, "arguments": ""}}
        chunks.append(oa.chunk({"tool_calls": [first]}))
        chunks += [oa.chunk({"tool_calls": [{"index": index, "function": {"arguments": p}}]}) for p in pieces]
    chunks.append(oa.chunk({}, finish_reason=finish))
    if usage:
        chunks.append(oa.chunk(None, usage=oa.usage(5, 3)))
    events = events_of(translate([oa.sse_body(chunks)]))
    assert_valid_stream(events)
    message = final_message(events)
    assert [block["type"] for block in message["content"]] == ["text"] * bool(texts) + ["tool_use"] * len(tools)
    if tools and finish in ("stop", "tool_calls", None):
        assert message["stop_reason"] == "tool_use"
    assert message["usage"]["output_tokens"] == (3 if usage else 0)
    assert [block["input"] for block in message["content"][bool(texts) :]] == [args for _, args, _ in tools]
