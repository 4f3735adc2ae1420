"""The streaming redactor: entities split across SSE chunks are caught, the SSE framing and every chunk's
JSON stay valid, and the text, put back together, is the redacted text."""

from __future__ import annotations

from collections.abc import AsyncIterator
from itertools import pairwise

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelmux.security.pii import ENTITIES
from modelmux.security.pii_stream import StreamRedactor
from modelmux.security.redaction import Redactor
from tests.conformance import assert_valid_chunk
from tests.e2e.conftest import parse_sse
from tests.fakes import openai_like as oa

ALL = frozenset(ENTITIES)


async def relay(events: list[bytes]) -> AsyncIterator[bytes]:
    for event in events:
        yield event


async def redacted_stream(pieces: list[str], *, finish: bool = True, raw_split: int | None = None) -> bytes:
    chunks = oa.text_chunks(pieces) if finish else oa.text_chunks(pieces)[:-1]
    body = oa.sse_body(chunks)
    events = [body[i : i + raw_split] for i in range(0, len(body), raw_split)] if raw_split else _events(body)
    out = b""
    async for piece in StreamRedactor(Redactor(ALL)).wrap(relay(events)):
        out += piece
    return out


def _events(body: bytes) -> list[bytes]:
    return [part + b"\n\n" for part in body.split(b"\n\n") if part]


def text_of(raw: bytes) -> str:
    out = []
    for event, data in parse_sse(raw):
        if event == "message" and data != "[DONE]":
            chunk = orjson.loads(data)
            assert_valid_chunk(chunk)
            out.extend(c["delta"].get("content") or "" for c in chunk["choices"])
    return "".join(out)


async def test_an_email_split_across_two_chunks_is_redacted() -> None:
    raw = await redacted_stream(["Write to john.doe@exa", "mple.com for details."])
    assert text_of(raw) == "Write to [EMAIL_1] for details."
    assert b"john.doe" not in raw and b"mple.com" not in raw
    assert raw.endswith(b"data: [DONE]\n\n")


async def test_text_held_back_is_released_before_done_without_a_finish_chunk() -> None:
    raw = await redacted_stream(["card 4111 1111 ", "1111 1111"], finish=False)
    assert text_of(raw) == "card [CREDIT_CARD_1]"
    assert raw.endswith(b"data: [DONE]\n\n")


async def test_events_split_mid_line_are_reassembled() -> None:
    raw = await redacted_stream(["call me: 415-555", "-2671, or mail a@b.io"], raw_split=7)
    assert text_of(raw) == "call me: [PHONE_1], or mail [EMAIL_1]"


async def test_long_text_is_released_as_it_comes() -> None:
    words = [f"word{i} " for i in range(200)]
    raw = await redacted_stream(words)
    assert text_of(raw) == "".join(words)
    contents = [
        c["delta"].get("content") for _, d in parse_sse(raw) if d != "[DONE]" for c in orjson.loads(d)["choices"]
    ]
    assert sum(1 for c in contents if c) > 100  # not everything held to the end


@pytest.mark.parametrize(
    "entity", ["bob@example.com", "sk-proj-abcdefghijklmnopqrstuvwxyz012345", "DE89 3704 0044 0532 0130 00"]
)
@given(cuts=st.lists(st.integers(min_value=0, max_value=80), max_size=6))
@settings(max_examples=60, deadline=None)
async def test_an_entity_is_caught_wherever_the_stream_splits_it(entity: str, cuts: list[int]) -> None:
    text = f"Please contact {entity} today, thanks."
    positions = sorted({min(c, len(text)) for c in cuts} | {0, len(text)})
    pieces = [text[a:b] for a, b in pairwise(positions) if b > a]
    raw = await redacted_stream(pieces)
    assert entity.split()[0] not in raw.decode()
    assert text_of(raw).startswith("Please contact [") and text_of(raw).endswith("] today, thanks.")


async def redacted_tool_stream(calls: list[tuple[str, str, list[str]]], *, finish: bool = True) -> bytes:
    chunks = oa.tool_call_chunks(calls)
    body = oa.sse_body(chunks if finish else chunks[:-1])
    out = b""
    async for piece in StreamRedactor(Redactor(ALL)).wrap(relay(_events(body))):
        out += piece
    return out


def arguments_of(raw: bytes) -> dict[int, str]:
    """Each tool call's argument text, put back together from the deltas, the way SDKs accumulate it."""
    out: dict[int, str] = {}
    for event, data in parse_sse(raw):
        if event == "message" and data != "[DONE]":
            chunk = orjson.loads(data)
            assert_valid_chunk(chunk)
            for choice in chunk["choices"]:
                for call in choice["delta"].get("tool_calls") or []:
                    out[call["index"]] = out.get(call["index"], "") + call["function"].get("arguments", "")
    return out


@pytest.mark.parametrize("finish", [True, False])
async def test_streamed_tool_arguments_are_redacted_and_stay_json(finish: bool) -> None:
    first = ['{"to": "jane.d', 'oe@example.com", "body": "call 415-55', '5-2671"}']
    second = ['{"card": "4111 1111 1111 1111", "note": "', "x" * 150, '"}']
    raw = await redacted_tool_stream([("call_a", "send_mail", first), ("call_b", "pay", second)], finish=finish)
    arguments = arguments_of(raw)
    assert orjson.loads(arguments[0]) == {"to": "[EMAIL_1]", "body": "call [PHONE_1]"}
    assert orjson.loads(arguments[1]) == {"card": "[CREDIT_CARD_1]", "note": "x" * 150}
    assert b"jane" not in raw and b"4111" not in raw and b"2671" not in raw
    assert raw.endswith(b"data: [DONE]\n\n")


async def test_long_tool_arguments_are_released_as_they_come() -> None:
    pieces = ['{"text": "'] + [f"word{i} " for i in range(100)] + ['"}']
    raw = await redacted_tool_stream([("call_a", "write", pieces)])
    assert orjson.loads(arguments_of(raw)[0]) == {"text": "".join(pieces[1:-1])}
    deltas = [
        call["function"]["arguments"]
        for _, d in parse_sse(raw)
        if d != "[DONE]"
        for c in orjson.loads(d)["choices"]
        for call in c["delta"].get("tool_calls") or []
    ]
    assert sum(1 for d in deltas if d) > 50  # not everything held to the end
