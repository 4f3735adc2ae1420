"""Anthropic message and error bodies -> OpenAI shapes: golden transcripts checked against the schemas."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from modelmux.errors import RequestError
from modelmux.plan.models import ProviderPlan, Secret
from modelmux.providers.anthropic import AnthropicAdapter
from modelmux.providers.anthropic_request import TranslationError
from modelmux.providers.anthropic_response import parse_anthropic_error, retry_after, to_chat_completion
from modelmux.providers.base import UpstreamStreamError, UpstreamTarget
from tests.conformance import assert_valid_chat_completion, assert_valid_error

TRANSCRIPTS = Path(__file__).resolve().parents[2] / "fixtures" / "transcripts"
RESPONSES = [
    *sorted((TRANSCRIPTS / "anthropic").glob("response_*.json")),
    TRANSCRIPTS / "vertex_ai" / "response_text.json",
]


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def error_cases() -> list[Any]:
    cases = []
    for path in (TRANSCRIPTS / "anthropic" / "errors.json", TRANSCRIPTS / "vertex_ai" / "errors.json"):
        for case in load(path)["cases"]:
            cases.append(pytest.param(case, id=f"{path.parent.name}-{case['name']}"))
    return cases


def payload_of(case: dict[str, Any]) -> bytes:
    if "body_text" in case:
        return str(case["body_text"]).encode()
    return orjson.dumps(case["body"])


@pytest.mark.parametrize("path", RESPONSES, ids=lambda p: f"{p.parent.name}-{p.stem}")
def test_golden_response(path: Path) -> None:
    fixture = load(path)
    payload = orjson.dumps(fixture["anthropic_response"])
    out = to_chat_completion(payload, fixture["public_model"], created=fixture["created"])
    assert out == fixture["expected_openai_response"]
    assert_valid_chat_completion(out)


def test_created_defaults_to_now() -> None:
    fixture = load(RESPONSES[0])
    out = to_chat_completion(orjson.dumps(fixture["anthropic_response"]), "claude")
    assert isinstance(out["created"], int) and out["created"] > 1_700_000_000


def test_adapter_parse_chat_names_the_public_model() -> None:
    provider = ProviderPlan(name="a", type="anthropic", base_url="", api_key=Secret("${K}", "k"))
    fixture = load(TRANSCRIPTS / "anthropic" / "response_tool_use.json")
    out = AnthropicAdapter(provider).parse_chat(
        orjson.dumps(fixture["anthropic_response"]), UpstreamTarget(provider, "my-claude", "claude-x")
    )
    assert out["model"] == "my-claude"
    assert (
        out["choices"][0]["message"]["tool_calls"]
        == fixture["expected_openai_response"]["choices"][0]["message"]["tool_calls"]
    )


def test_unknown_stop_reason_and_blocks_are_tolerated() -> None:
    message = {
        "id": "msg_x",
        "content": [
            {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}},
            {"type": "text", "text": "ok"},
        ],
        "stop_reason": "some_future_reason",
        "usage": {"input_tokens": 1, "output_tokens": 1},
    }
    out = to_chat_completion(orjson.dumps(message), "claude", created=1)
    assert out["choices"][0]["finish_reason"] == "stop"
    assert out["choices"][0]["message"]["content"] == "ok"
    assert_valid_chat_completion(out)


@pytest.mark.parametrize("case", error_cases())
def test_golden_error(case: dict[str, Any]) -> None:
    error = parse_anthropic_error(case["status"], httpx.Headers(case["headers"]), payload_of(case))
    expected = case["expected"]
    got = {k: getattr(error, k) for k in ("status", "message", "type", "code", "retry_after")}
    assert got == expected
    assert_valid_error(error.body())


def test_error_headers_may_be_a_plain_dict_with_any_case() -> None:
    error = parse_anthropic_error(429, {"Retry-After-Ms": "250"}, b"{}")
    assert error.retry_after == 0.25
    assert error.message == "upstream returned HTTP 429"


def test_adapter_parse_error_delegates() -> None:
    provider = ProviderPlan(name="a", type="anthropic", base_url="")
    body = b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
    error = AnthropicAdapter(provider).parse_error(529, httpx.Headers({"retry-after": "3"}), body)
    assert (error.status, error.type, error.retry_after) == (529, "server_error", 3.0)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "Wed, 21 Oct 2015 07:28:30 GMT"}, 30.0),
        ({"retry-after": "Wed, 21 Oct 2015 07:27:00 GMT"}, 0.0),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "inf"}, None),
        ({"retry-after": "-5"}, 0.0),
        ({"retry-after-ms": "nan", "retry-after": " 2 "}, 2.0),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:30"}, None),
        ({"retry-after-ms": "x", "retry-after": "4"}, 4.0),
        ({}, None),
    ],
)
def test_retry_after_forms(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after(headers, now=1445412480.0) == expected


def test_non_json_error_body_is_trimmed_and_bounded() -> None:
    error = parse_anthropic_error(502, {}, b"  x" * 5000)
    assert error.message.startswith("x") and len(error.message) == 2000
    undecodable = parse_anthropic_error(500, {}, b"\xff\xfe oops \n")
    assert undecodable.message == "\ufffd\ufffd oops"


@pytest.mark.parametrize("payload", [b"<html>oops</html>", b"[1, 2]", b'{"content": "not a list"}', b""])
def test_a_malformed_success_body_is_a_502(payload: bytes) -> None:
    with pytest.raises(UpstreamStreamError) as caught:
        to_chat_completion(payload, "claude")
    assert (caught.value.error.status, caught.value.error.type) == (502, "server_error")


def test_translation_errors_are_request_errors() -> None:
    error = TranslationError("bad", param="n")
    assert isinstance(error, RequestError)
    assert (
        error.body()
        == error.error.body()
        == {"error": {"message": "bad", "type": "invalid_request_error", "param": "n", "code": None}}
    )
