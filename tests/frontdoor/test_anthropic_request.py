"""Anthropic Messages request -> OpenAI chat request: golden transcripts and the 400s."""

from __future__ import annotations

from typing import Any

import pytest

from modelmux.errors import RequestError
from modelmux.frontdoor.anthropic_request import estimate_input_tokens, to_openai_request
from modelmux.providers.anthropic_request import to_anthropic_request
from modelmux.runtime.ingress import check_chat_request
from tests.frontdoor.goldens import UPDATE, expect, load, names, save

REQUESTS = names("request_*.json")
REQUESTS.remove("request_errors.json")


@pytest.mark.parametrize("name", REQUESTS)
def test_golden_request(name: str) -> None:
    actual = to_openai_request(load(name)["anthropic_request"])
    assert actual == expect(name, "expected_openai_request", actual)
    check_chat_request(actual)  # what the gateway's own ingress accepts


def test_tool_round_trip_survives_the_anthropic_adapter() -> None:
    """Through the front door and back out of the Anthropic adapter, a request is what the client sent
    (a tool result's text blocks arrive as one string)."""
    original = load("request_tool_round_trip.json")["anthropic_request"]
    upstream = to_anthropic_request(to_openai_request(original), model=original["model"], stream=False)
    assert upstream["messages"][2]["content"][1] == {
        "type": "tool_result",
        "tool_use_id": "toolu_01B",
        "content": "14:05",
    }
    upstream["messages"][2]["content"][1] = original["messages"][2]["content"][1]
    assert upstream == original


def _error(body: dict[str, Any]) -> dict[str, Any]:
    with pytest.raises(RequestError) as caught:
        to_openai_request(body)
    error = caught.value
    return {"status": error.status, "type": error.type, "message": error.message, "param": error.param}


def test_invalid_requests_are_400_naming_the_field() -> None:
    cases = load("request_errors.json")
    for case in cases:
        actual = _error(case["anthropic_request"])
        if UPDATE:
            case["expected"] = actual
        assert actual == case["expected"], case["name"]
        assert actual["status"] == 400 and actual["type"] == "invalid_request_error"
        assert actual["message"].startswith(f"{actual['param']}: ")
    if UPDATE:
        save("request_errors.json", cases)


def test_a_stream_asks_for_usage() -> None:
    chat = to_openai_request(
        {"model": "m", "max_tokens": 5, "stream": True, "messages": [{"role": "user", "content": "x"}]}
    )
    assert chat["stream"] is True
    assert chat["stream_options"] == {"include_usage": True}


def test_estimate_counts_messages_and_tools() -> None:
    plain = to_openai_request({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x" * 400}]})
    assert estimate_input_tokens(plain) == 100 + 4
    tool = {"name": "t", "description": "d" * 400, "input_schema": {"type": "object"}}
    with_tools = to_openai_request({**{"model": "m", "max_tokens": 5}, "messages": plain["messages"], "tools": [tool]})
    assert estimate_input_tokens(with_tools) > estimate_input_tokens(plain) + 100
