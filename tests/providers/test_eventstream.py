"""The AWS event-stream decoder (framing, both CRCs, every header type, reads split anywhere) checked
against botocore's own decoder, and ConverseStream bodies decoded into OpenAI chunks: golden frames
split at every byte, exceptions mid-stream, and a fake Bedrock streaming real frames over HTTP."""

from __future__ import annotations

import dataclasses
import json
import struct
import uuid
import zlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelmux.plan.models import ProviderPlan, frozen_mapping
from modelmux.providers.base import UpstreamStreamError, UpstreamTarget
from modelmux.providers.bedrock import BedrockAdapter, BedrockStreamDecoder
from modelmux.providers.eventstream import EventMessage, EventStreamDecoder, EventStreamError
from tests.conformance import assert_valid_chunk, assert_valid_error
from tests.fakes import FakeServer, Reply
from tests.fakes import bedrock_like as fake
from tests.providers import transcripts

KIND = "bedrock"
ROOT = transcripts.ROOT / KIND
EVENTSTREAM = "application/vnd.amazon.eventstream"
STAMP = {"id": "chatcmpl-modelmux", "object": "chat.completion.chunk", "created": 1, "model": "claude"}
MODEL = fake.service_model()
# The smallest message: no headers, no payload (prelude CRC 0x05c248eb, message CRC 0x7d98c8ff).
EMPTY_MESSAGE = bytes.fromhex("00000010 00000000 05c248eb 7d98c8ff")
ALL_TYPES = {
    "true": True,
    "false": False,
    "int8": fake.Typed(2, -1),
    "int16": fake.Typed(3, -2),
    "int32": 40_000,
    "int64": fake.Typed(5, 2**40),
    "bytes": b"\x00\xffraw",
    "string": "Grüße",
    "timestamp": fake.Typed(8, 1_729_598_400_000),
    "uuid": fake.Typed(9, uuid.UUID("12345678-1234-5678-1234-567812345678").bytes),
}
DECODED_ALL_TYPES = {
    "true": True,
    "false": False,
    "int8": -1,
    "int16": -2,
    "int32": 40_000,
    "int64": 2**40,
    "bytes": b"\x00\xffraw",
    "string": "Grüße",
    "timestamp": 1_729_598_400_000,
    "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678").bytes,
}


def frames(*messages: bytes, pieces: list[bytes] | None = None) -> list[EventMessage]:
    decoder = EventStreamDecoder()
    out: list[EventMessage] = []
    for piece in pieces if pieces is not None else [b"".join(messages)]:
        out += decoder.feed(piece)
    decoder.finish()
    return out


def save(name: str, case: dict[str, Any]) -> None:
    (ROOT / name).write_text(json.dumps(case, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def adapter(base_url: str) -> BedrockAdapter:
    credentials = {"access_key_id": fake.ACCESS_KEY, "secret_access_key": fake.SECRET_KEY}
    options = frozen_mapping({"credentials": credentials})
    provider = ProviderPlan(name="b", type=KIND, base_url=base_url, region=fake.REGION, options=options)
    return BedrockAdapter(provider)


def target(a: BedrockAdapter) -> UpstreamTarget:
    return UpstreamTarget(a.provider, "claude", fake.MODEL)


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


# Framing --------------------------------------------------------------------------------------------


def test_the_smallest_message_and_the_fake_encoder_agree() -> None:
    assert fake.encode_message({}) == EMPTY_MESSAGE
    [message] = frames(EMPTY_MESSAGE)
    assert (dict(message.headers), message.payload) == ({}, b"")


def test_every_header_type_is_decoded() -> None:
    raw = fake.encode_message(ALL_TYPES, b'{"ok": true}')
    [message] = frames(raw)
    assert dict(message.headers) == DECODED_ALL_TYPES
    assert message.payload == b'{"ok": true}'
    assert message.text_header("string") == "Grüße" and message.text_header("int32") is None
    [theirs] = fake.botocore_events(fake.encode_message({"string": "Grüße"}, b"{}"))
    assert theirs["headers"] == {"string": "Grüße"}


def test_a_body_split_at_every_byte_boundary_decodes_the_same() -> None:
    raw = fake.encode_message(ALL_TYPES, b"first") + EMPTY_MESSAGE + fake.event("metadata", {"usage": {}})
    whole = frames(raw)
    assert len(whole) == 3
    assert frames(pieces=[raw[i : i + 1] for i in range(len(raw))]) == whole
    for cut in range(len(raw) + 1):
        for second in range(cut, len(raw) + 1, 11):
            assert frames(pieces=[raw[:cut], raw[cut:second], raw[second:]]) == whole


Message = tuple[dict[str, Any], bytes]
NAMES = st.text(st.characters(codec="utf-8"), min_size=1, max_size=20).filter(lambda n: len(n.encode()) < 256)
header_values = st.one_of(
    st.booleans(),
    st.integers(-(2**31), 2**31 - 1),
    st.binary(max_size=40),
    st.text(max_size=40),
    st.builds(fake.Typed, st.just(5), st.integers(-(2**63), 2**63 - 1)),
)
messages = st.tuples(
    st.dictionaries(
        NAMES,
        header_values,
        max_size=6,
    ),
    st.binary(max_size=300),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(messages, min_size=1, max_size=5), st.lists(st.integers(0, 4000), max_size=8))
def test_random_messages_decode_like_botocore(batch: list[Message], cuts: list[int]) -> None:
    from botocore.eventstream import EventStreamBuffer  # type: ignore[import-untyped]

    raw = b"".join(fake.encode_message(headers, payload) for headers, payload in batch)
    points = sorted({c % (len(raw) + 1) for c in cuts})
    pieces = [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)], strict=True)]
    ours = frames(pieces=pieces)
    buffer = EventStreamBuffer()
    buffer.add_data(raw)
    theirs = list(buffer)
    assert [(dict(m.headers), m.payload) for m in ours] == [(dict(m.headers), m.payload) for m in theirs]


def corrupt(raw: bytes, position: int) -> bytes:
    data = bytearray(raw)
    data[position] ^= 0x20
    return bytes(data)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (corrupt(EMPTY_MESSAGE, 3), "prelude CRC"),
        (corrupt(fake.encode_message({"a": "b"}, b"payload"), 20), "message CRC"),
        (corrupt(fake.encode_message({"a": "b"}, b"payload"), 13), "message CRC"),
        (fake.encode_message({}, b"")[:-4] + b"\x00\x00\x00\x00", "message CRC"),
    ],
)
def test_crc_mismatches_are_errors(raw: bytes, message: str) -> None:
    with pytest.raises(EventStreamError, match=message):
        frames(raw)


def prelude(total: int, headers: int) -> bytes:
    head = struct.pack(">II", total, headers)
    return head + struct.pack(">I", zlib.crc32(head))


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (prelude(15, 0), "message length 15"),
        (prelude(17 * 1024 * 1024, 0), "message length"),
        (prelude(40, 30), "headers length 30"),
        (b'{"message": "not an event stream"}', "prelude CRC"),
    ],
)
def test_impossible_preludes_fail_as_soon_as_they_arrive(raw: bytes, message: str) -> None:
    decoder = EventStreamDecoder()
    with pytest.raises(EventStreamError, match=message):
        decoder.feed(raw[:12])


def header_message(headers: bytes) -> bytes:
    total = 16 + len(headers)
    head = prelude(total, len(headers)) + headers
    return head + struct.pack(">I", zlib.crc32(head))


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        (b"\x01a\x07\x00\x01x\x01a\x07\x00\x01y", "duplicate"),
        (b"\x01a\x0a", "unknown event-stream header value type 10"),
        (b"\x01a\x07\x00\x09abc", "truncated"),
        (b"\x01a\x04\x00\x01", "truncated"),
        (b"\x01a\x09\x00\x01", "truncated event-stream UUID"),
        (b"\x02\xff\xfe\x00", "not UTF-8"),
        (b"\x05ab", "truncated event-stream header name"),
    ],
)
def test_malformed_headers_are_errors(headers: bytes, message: str) -> None:
    with pytest.raises(EventStreamError, match=message):
        frames(header_message(headers))


def test_leftover_bytes_at_the_end_are_an_error_and_the_decoder_stays_failed() -> None:
    decoder = EventStreamDecoder()
    assert decoder.feed(EMPTY_MESSAGE + EMPTY_MESSAGE[:5]) != []
    assert decoder.pending == 5
    with pytest.raises(EventStreamError, match="5 bytes left over"):
        decoder.finish()
    with pytest.raises(EventStreamError):
        decoder.feed(EMPTY_MESSAGE)


def test_messages_before_a_fault_in_the_same_read_come_first() -> None:
    decoder = EventStreamDecoder()
    assert len(decoder.feed(EMPTY_MESSAGE + corrupt(EMPTY_MESSAGE, 3))) == 1
    with pytest.raises(EventStreamError, match="prelude CRC"):
        decoder.feed(b"")


# ConverseStream -------------------------------------------------------------------------------------


def stream_fixture(name: str) -> tuple[bytes, dict[str, Any]]:
    raw = (ROOT / name).read_bytes()
    return raw, transcripts.load(KIND, name.replace(".eventstream", ".json"))


def decode_all(pieces: list[bytes]) -> list[dict[str, Any]]:
    return transcripts.decode(BedrockStreamDecoder(), pieces)


@pytest.mark.parametrize("name", transcripts.names(KIND, "stream_*.eventstream"))
def test_stream_decodes_at_every_byte_boundary(name: str) -> None:
    raw, case = stream_fixture(name)
    events, chunks = fake.botocore_events(raw), decode_all([raw])
    if transcripts.UPDATE:
        case = {**case, "events": events, "expected_chunks": chunks}
        save(name.replace(".eventstream", ".json"), case)
    assert events == case["events"], "botocore decodes the golden frames to the recorded events"
    stream_shape = MODEL.operation_model("ConverseStream").output_shape.members["stream"]
    for event in events:
        member = stream_shape.members[event["headers"][":event-type"]]
        assert not fake.shape_errors(event["payload"], member)
    expected = case["expected_chunks"]
    assert decode_all([raw[i : i + 1] for i in range(len(raw))]) == expected
    for cut in range(len(raw) + 1):
        assert decode_all([raw[:cut], raw[cut:]]) == expected, f"split at byte {cut}"
    for chunk in expected:
        assert_valid_chunk({**STAMP, **chunk})
    assert expected[0]["choices"][0]["delta"]["role"] == "assistant"
    assert expected[-1]["choices"] == [] and expected[-1]["usage"]["total_tokens"] > 0


def test_tool_call_stream_gives_each_call_its_own_index() -> None:
    _, case = stream_fixture("stream_tool_calls.eventstream")
    expected = case["expected_chunks"]
    calls = tool_calls_of(expected)
    assert [(c["index"], c["function"]["name"]) for c in calls if "id" in c] == [
        (0, "get_weather"),
        (1, "get_time"),
    ]
    arguments = {0: "", 1: ""}
    for call in calls:
        arguments[call["index"]] += call["function"]["arguments"]
    assert {i: json.loads(text) for i, text in arguments.items()} == {0: {"city": "Zürich"}, 1: {}}


@pytest.mark.parametrize("name", transcripts.names(KIND, "failed_*.eventstream"))
def test_failed_stream_raises_after_the_chunks_so_far(name: str) -> None:
    raw, case = stream_fixture(name)
    for cut in range(len(raw) + 1):
        decoder, chunks = BedrockStreamDecoder(), []
        with pytest.raises(UpstreamStreamError) as caught:
            for piece in (raw[:cut], raw[cut:]):
                chunks += decoder.feed(piece)
            decoder.finish()
        actual = dataclasses.asdict(caught.value.error)
        if transcripts.UPDATE and cut == 0:
            case = {**case, "expected_error": actual, "chunks_before": chunks}
            save(name.replace(".eventstream", ".json"), case)
        assert (actual, chunks) == (case["expected_error"], case["chunks_before"]), f"split at byte {cut}"
    assert_valid_error(caught.value.error.body())


@pytest.mark.parametrize("piece_size", [1, 7, 64])
async def test_stream_through_a_fake_bedrock_in_small_writes(server: FakeServer, piece_size: int) -> None:
    raw, case = stream_fixture("stream_tool_calls.eventstream")
    pieces = [raw[i : i + piece_size] for i in range(0, len(raw), piece_size)]
    reply = Reply.stream(pieces, content_type=EVENTSTREAM)
    server.script("POST", "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream", reply)
    a = adapter(server.url)
    body = {"model": "claude", "messages": [{"role": "user", "content": "Weather?"}], "stream": True}
    decoder, chunks = a.stream_decoder(target(a)), []
    async with httpx.AsyncClient() as client:
        response = await client.send(await a.build_chat(body, target(a), stream=True), stream=True)
        assert response.headers["content-type"] == EVENTSTREAM
        async for data in response.aiter_bytes():
            chunks += decoder.feed(data)
        await response.aclose()
    chunks += decoder.finish()
    fake.verify_sigv4(server.requests[0], origin=server.url)
    assert server.requests[0].header("accept") == "application/vnd.amazon.eventstream"
    assert chunks == case["expected_chunks"]


def stream_of(*events: tuple[str, dict[str, Any]]) -> bytes:
    return fake.stream_body(events)


START = ("messageStart", {"role": "assistant"})
STOP = ("messageStop", {"stopReason": "end_turn"})


def test_unknown_events_and_events_after_metadata_are_ignored() -> None:
    metadata = ("metadata", {"usage": fake.usage(1, 1)})
    late = ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "late"}})
    future = ("somethingNew", {"x": 1})
    chunks = decode_all([stream_of(START, future, STOP, metadata, late)])
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]] == [None, "stop"]
    assert chunks[-1]["usage"]["total_tokens"] == 2


def test_reasoning_deltas_become_reasoning_content_and_signatures_are_dropped() -> None:
    thought = ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "Hm."}}})
    signature = (
        "contentBlockDelta",
        {"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "x"}}},
    )
    chunks = decode_all([stream_of(START, thought, signature, STOP)])
    assert [c["choices"][0]["delta"] for c in chunks] == [
        {"role": "assistant", "content": "", "refusal": None},
        {"reasoning_content": "Hm."},
        {},
    ]


def test_the_end_of_the_stream_after_message_stop_is_fine_and_before_it_is_a_502() -> None:
    assert decode_all([stream_of(START, STOP)])[-1]["choices"][0]["finish_reason"] == "stop"
    with pytest.raises(UpstreamStreamError) as caught:
        decode_all([stream_of(START)])
    assert caught.value.error.status == 502


@pytest.mark.parametrize(
    ("frame", "status", "code"),
    [
        (fake.exception("validationException", "bad input"), 400, "ValidationException"),
        (fake.exception("serviceUnavailableException", "later"), 503, "ServiceUnavailableException"),
        (fake.exception("internalServerException", "oops"), 500, "InternalServerException"),
        (fake.exception("brandNewException", "new"), 500, "BrandNewException"),
        (fake.error_message("InternalFailure", "An internal error occurred"), 500, "InternalFailure"),
        (
            fake.encode_message({":message-type": "event", ":event-type": "messageStop"}, b"not json"),
            502,
            None,
        ),
    ],
)
def test_stream_exceptions_carry_their_status(frame: bytes, status: int, code: str | None) -> None:
    with pytest.raises(UpstreamStreamError) as caught:
        decode_all([stream_of(START), frame])
    assert (caught.value.error.status, caught.value.error.code) == (status, code)
    assert_valid_error(caught.value.error.body())
