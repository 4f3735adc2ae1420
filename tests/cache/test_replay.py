"""Cached answers replayed as OpenAI streams, and streams folded back into answers."""

from __future__ import annotations

from typing import Any

import orjson

from modelmux.cache.accumulate import StreamAccumulator
from modelmux.cache.entry import CachedAnswer, storable
from modelmux.cache.replay import replay_chunks, split_text
from modelmux.runtime.streaming import DONE, encode_chunk, encode_error
from tests.conformance import assert_valid_chat_completion, assert_valid_chunk
from tests.fakes import openai_like as oa

LONG = "The quick brown fox jumps over the lazy dog. " * 8


def fresh(completion: dict[str, Any]) -> dict[str, Any]:
    return CachedAnswer(completion).fresh("gpt-4o")


def sse(chunks: list[dict[str, Any]]) -> bytes:
    return b"".join(encode_chunk(c) for c in chunks) + DONE


def test_a_text_answer_replays_role_content_finish_with_one_identity() -> None:
    completion = fresh(oa.chat_completion(LONG))
    chunks = list(replay_chunks(completion, include_usage=False))
    for chunk in chunks:
        assert_valid_chunk(chunk)
        assert "usage" not in chunk
    assert {(c["id"], c["created"], c["model"]) for c in chunks} == {
        (completion["id"], completion["created"], "gpt-4o")
    }
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert all("role" not in c["choices"][0]["delta"] for c in chunks[1:])
    pieces = [c["choices"][0]["delta"].get("content") for c in chunks[1:-1]]
    assert len(pieces) > 1 and "".join(pieces) == LONG
    assert chunks[-1]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}


def test_usage_is_replayed_only_when_asked() -> None:
    completion = fresh(oa.chat_completion("Hi."))
    chunks = list(replay_chunks(completion, include_usage=True))
    for chunk in chunks:
        assert_valid_chunk(chunk)
    assert all(c["usage"] is None for c in chunks[:-1])
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == completion["usage"]


def test_tool_calls_replay_with_their_index_id_and_arguments() -> None:
    calls = [oa.tool_call("get_weather", {"city": "Paris"}), oa.tool_call("get_time", {"tz": "CET"})]
    completion = fresh(oa.chat_completion(None, tool_calls=calls))
    chunks = list(replay_chunks(completion, include_usage=False))
    for chunk in chunks:
        assert_valid_chunk(chunk)
    deltas = [c["choices"][0]["delta"]["tool_calls"][0] for c in chunks if "tool_calls" in c["choices"][0]["delta"]]
    assert [(d["index"], d["id"], d["function"]["name"]) for d in deltas] == [
        (0, calls[0]["id"], "get_weather"),
        (1, calls[1]["id"], "get_time"),
    ]
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_a_replay_folds_back_into_the_same_answer() -> None:
    for original in (
        oa.chat_completion(LONG),
        oa.chat_completion(None, tool_calls=[oa.tool_call("f", {"a": 1})]),
        oa.chat_completion("cut", finish_reason="length"),
    ):
        completion = fresh(original)
        accumulator = StreamAccumulator(1_000_000)
        for piece in split_text(sse(list(replay_chunks(completion, include_usage=True))).decode(), 7):
            accumulator.feed(piece.encode())
        folded = accumulator.completion()
        assert folded is not None and storable(folded)
        assert_valid_chat_completion(folded)
        assert folded["choices"][0]["message"] == {
            k: v for k, v in completion["choices"][0]["message"].items() if k != "annotations"
        }
        assert folded["usage"] == completion["usage"]
        assert (folded["id"], folded["model"]) == (completion["id"], "gpt-4o")


def test_an_upstream_stream_with_several_choices_folds_per_index() -> None:
    chunks = [
        oa.chunk({"role": "assistant", "content": ""}, index=0),
        oa.chunk({"role": "assistant", "content": ""}, index=1),
        oa.chunk({"content": "A"}, index=0),
        oa.chunk({"content": "B"}, index=1),
        oa.chunk({}, index=1, finish_reason="stop"),
        oa.chunk({}, index=0, finish_reason="length"),
    ]
    accumulator = StreamAccumulator(1_000_000)
    accumulator.feed(sse(chunks))
    folded = accumulator.completion(oa.usage())
    assert folded is not None
    assert_valid_chat_completion(folded)
    assert [(c["message"]["content"], c["finish_reason"]) for c in folded["choices"]] == [
        ("A", "length"),
        ("B", "stop"),
    ]
    assert folded["usage"] == oa.usage()


def test_a_stream_that_failed_or_did_not_finish_folds_into_nothing() -> None:
    body = sse(oa.text_chunks())
    cut = StreamAccumulator(1_000_000)
    cut.feed(body[: -len(DONE)])
    assert cut.completion() is None
    failed = StreamAccumulator(1_000_000)
    failed.feed(body[: -len(DONE)] + encode_error(502, "boom", "api_error", "upstream_stream_error"))
    assert failed.completion() is None
    too_big = StreamAccumulator(len(body) - 1)
    too_big.feed(body)
    assert too_big.completion() is None


def test_only_complete_answers_are_storable() -> None:
    assert storable(oa.chat_completion())
    assert storable(oa.chat_completion(finish_reason="length"))
    assert not storable(oa.chat_completion(finish_reason="content_filter"))
    assert not storable({**oa.chat_completion(), "choices": []})
    assert not storable(oa.error_body("nope"))


def test_a_damaged_or_foreign_entry_is_a_miss() -> None:
    good = CachedAnswer(oa.chat_completion(), "openai", "openai", "gpt-4o-2024-08-06", "default")
    assert CachedAnswer.decode(good.encode()) == good
    assert CachedAnswer.decode(b"not json") is None
    assert CachedAnswer.decode(orjson.dumps({"format": 99, "completion": oa.chat_completion()})) is None
    assert CachedAnswer.decode(None) is None


def test_split_text_keeps_every_character() -> None:
    for text in ("", "short", LONG, "x" * 200, "é" * 70):
        assert "".join(split_text(text)) == text
        assert all(len(p) <= 64 for p in split_text(text))
