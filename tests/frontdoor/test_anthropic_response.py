"""OpenAI chat completion -> Anthropic message, and errors in Anthropic's shape: golden transcripts."""

from __future__ import annotations

import pytest

from modelmux.frontdoor.anthropic_response import (
    anthropic_error_body,
    stop_reason,
    stream_error_body,
    to_anthropic_message,
)
from tests.frontdoor.anthropic_checks import assert_valid_message, error_problems
from tests.frontdoor.goldens import UPDATE, load, names, save

MESSAGE_ID = "msg_golden"


@pytest.mark.parametrize("name", names("response_*.json"))
def test_golden_response(name: str) -> None:
    case = load(name)
    actual = to_anthropic_message(case["openai_completion"], case["model"], MESSAGE_ID)
    if UPDATE:
        save(name, {**case, "expected_message": actual})
        case = load(name)
    assert actual == case["expected_message"]
    assert_valid_message(actual)
    assert actual["model"] == case["model"] and actual["id"] == MESSAGE_ID


@pytest.mark.parametrize(
    ("finish", "tools", "expected"),
    [
        ("stop", False, "end_turn"),
        ("length", False, "max_tokens"),
        ("tool_calls", True, "tool_use"),
        ("tool_calls", False, "end_turn"),
        ("stop", True, "tool_use"),
        ("length", True, "max_tokens"),
        ("content_filter", False, "refusal"),
        (None, False, "end_turn"),
        ("something_new", False, "end_turn"),
    ],
)
def test_stop_reason(finish: str | None, tools: bool, expected: str) -> None:
    assert stop_reason(finish, tool_use=tools) == expected


def test_error_bodies_by_status() -> None:
    cases = load("errors.json")
    for case in cases:
        actual = anthropic_error_body(case["status"], case["message"], request_id="req_golden")
        if UPDATE:
            case["expected"] = actual
        assert actual == case["expected"], case["status"]
        assert not error_problems(actual)
    if UPDATE:
        save("errors.json", cases)


def test_stream_error_bodies() -> None:
    cases = load("stream_errors.json")
    for case in cases:
        actual = stream_error_body(case["openai_error"])
        if UPDATE:
            case["expected"] = actual
        assert actual == case["expected"], case["openai_error"]
        assert not error_problems(actual)
    if UPDATE:
        save("stream_errors.json", cases)
