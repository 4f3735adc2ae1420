"""OpenAI request -> Anthropic Messages request: golden transcripts, the adapter's HTTP request, edges."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelmux.plan.models import ModelRoute, ProviderPlan, Secret, frozen_mapping
from modelmux.providers.anthropic import AnthropicAdapter
from modelmux.providers.anthropic_request import TranslationError, to_anthropic_request
from modelmux.providers.base import UpstreamTarget

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "transcripts" / "anthropic"
MODEL = "claude-sonnet-4-5-20250929"
REQUESTS = sorted(FIXTURES.glob("request_*.json"))


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def translate(fixture: dict[str, Any]) -> dict[str, Any]:
    options = fixture.get("options", {})
    return to_anthropic_request(
        fixture["openai_request"],
        model=MODEL,
        default_max_tokens=options.get("default_max_tokens", 4096),
        stream=fixture.get("stream", False),
    )


def provider(**overrides: Any) -> ProviderPlan:
    fields: dict[str, Any] = {
        "name": "anthropic",
        "type": "anthropic",
        "base_url": "https://api.anthropic.com",
        "api_key": Secret("${ANTHROPIC_API_KEY}", "sk-ant-test"),
        "models": (ModelRoute("claude", MODEL),),
    }
    fields.update(overrides)
    return ProviderPlan(**fields)


TARGET = UpstreamTarget(provider(), "claude", MODEL)


def test_every_request_fixture_is_covered() -> None:
    assert len(REQUESTS) >= 15


@pytest.mark.parametrize("path", REQUESTS, ids=lambda p: p.stem)
def test_golden_request(path: Path) -> None:
    fixture = load(path)
    if "expected_error" in fixture:
        with pytest.raises(TranslationError) as caught:
            translate(fixture)
        expected = fixture["expected_error"]
        assert caught.value.error.status == expected["status"]
        assert caught.value.error.type == expected["type"]
        assert caught.value.error.param == expected["param"]
    else:
        assert translate(fixture) == fixture["expected_anthropic_request"]


@pytest.mark.parametrize("path", [p for p in REQUESTS if "expected_error" not in load(p)], ids=lambda p: p.stem)
async def test_adapter_sends_the_golden_body(path: Path) -> None:
    fixture = load(path)
    options = frozen_mapping(fixture.get("options", {}))
    adapter = AnthropicAdapter(provider(options=options))
    target = UpstreamTarget(adapter.provider, "claude", MODEL)
    request = await adapter.build_chat(fixture["openai_request"], target, stream=fixture.get("stream", False))
    assert orjson.loads(request.content) == fixture["expected_anthropic_request"]


async def test_adapter_url_and_headers() -> None:
    adapter = AnthropicAdapter(provider(headers=(("anthropic-beta", Secret("${BETA}", "prompt-caching-2024-07-31")),)))
    request = await adapter.build_chat({"messages": [{"role": "user", "content": "Hi"}]}, TARGET, stream=False)
    assert request.method == "POST"
    assert str(request.url) == "https://api.anthropic.com/v1/messages"
    assert request.headers["x-api-key"] == "sk-ant-test"
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["anthropic-beta"] == "prompt-caching-2024-07-31"
    assert "authorization" not in request.headers


async def test_adapter_base_url_and_version_options() -> None:
    options = frozen_mapping({"anthropic_version": "2024-01-01"})
    adapter = AnthropicAdapter(provider(base_url="http://127.0.0.1:9000/proxy/", options=options))
    request = await adapter.build_chat({"messages": [{"role": "user", "content": "Hi"}]}, TARGET, stream=True)
    assert str(request.url) == "http://127.0.0.1:9000/proxy/v1/messages"
    assert request.headers["anthropic-version"] == "2024-01-01"
    assert orjson.loads(request.content)["stream"] is True


async def test_adapter_default_base_url_when_empty() -> None:
    adapter = AnthropicAdapter(provider(base_url="", api_key=None))
    request = await adapter.build_chat({"messages": [{"role": "user", "content": "Hi"}]}, TARGET, stream=False)
    assert str(request.url) == "https://api.anthropic.com/v1/messages"
    assert "x-api-key" not in request.headers


def _request(messages: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return to_anthropic_request({"messages": messages, **extra}, model=MODEL, stream=False)


def _user(content: Any) -> list[dict[str, Any]]:
    return [{"role": "user", "content": content}]


def test_pdf_file_becomes_a_document_block() -> None:
    part = {
        "type": "file",
        "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0x"},
    }
    out = _request(_user([part]))
    source = {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"}
    assert out["messages"][0]["content"] == [{"type": "document", "source": source}]


def test_cache_control_on_a_text_part_is_kept() -> None:
    part = {"type": "text", "text": "Long context", "cache_control": {"type": "ephemeral"}}
    out = _request([{"role": "system", "content": [part]}, *_user("Hi")])
    assert out["system"] == [{"type": "text", "text": "Long context", "cache_control": {"type": "ephemeral"}}]


@pytest.mark.parametrize(
    ("messages", "param"),
    [
        (
            _user([{"type": "input_audio", "input_audio": {"data": "AAA", "format": "wav"}}]),
            "messages[0].content[0]",
        ),
        (
            _user([{"type": "image_url", "image_url": {"url": "data:image/png,notbase64"}}]),
            "messages[0].content[0].image_url",
        ),
        (
            _user([{"type": "image_url", "image_url": {"url": "ftp://example.com/a.png"}}]),
            "messages[0].content[0].image_url",
        ),
        (_user([{"type": "file", "file": {"file_id": "file-abc"}}]), "messages[0].content[0].file"),
        ([{"role": "function", "name": "f", "content": "x"}], "messages[0].role"),
        (
            [{"role": "system", "content": [{"type": "image_url", "image_url": {"url": "https://x"}}]}],
            "messages[0].content[0]",
        ),
    ],
)
def test_unsupported_content_is_a_400(messages: list[dict[str, Any]], param: str) -> None:
    with pytest.raises(TranslationError) as caught:
        _request(messages)
    assert (caught.value.error.status, caught.value.error.param) == (400, param)


def test_tool_arguments_must_be_an_object() -> None:
    call = {"id": "a", "type": "function", "function": {"name": "f", "arguments": "[1, 2]"}}
    with pytest.raises(TranslationError) as caught:
        _request([*_user("Hi"), {"role": "assistant", "content": None, "tool_calls": [call]}])
    assert caught.value.error.param == "messages[1].tool_calls[0].function.arguments"


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"tools": [{"type": "custom", "custom": {"name": "x"}}]}, "tools[0].type"),
        (
            {
                "tools": [],
                "tool_choice": {"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": []}},
            },
            "tool_choice",
        ),
    ],
)
def test_unsupported_tool_options_are_a_400(extra: dict[str, Any], param: str) -> None:
    with pytest.raises(TranslationError) as caught:
        _request(_user("Hi"), **extra)
    assert caught.value.error.param == param


def test_tool_choice_without_tools_is_left_out() -> None:
    out = _request(_user("Hi"), tool_choice="auto", parallel_tool_calls=False)
    assert "tool_choice" not in out and "tools" not in out


def test_parallel_tool_calls_off_with_tool_choice_none_keeps_none() -> None:
    tools = [{"type": "function", "function": {"name": "f"}}]
    out = _request(_user("Hi"), tools=tools, tool_choice="none", parallel_tool_calls=False)
    assert out["tool_choice"] == {"type": "none"}


def test_long_schema_names_fit_anthropic_tool_name_limit() -> None:
    schema = {"name": "x" * 64, "schema": {"type": "object", "properties": {}}}
    out = _request(_user("Hi"), response_format={"type": "json_schema", "json_schema": schema})
    assert len(out["tools"][0]["name"]) == 64
    assert out["tool_choice"] == {"type": "tool", "name": out["tools"][0]["name"]}


def test_image_url_given_as_a_bare_string() -> None:
    out = _request(_user([{"type": "image_url", "image_url": "https://example.com/a.png"}]))
    assert out["messages"][0]["content"] == [
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}
    ]


def test_translation_does_not_modify_the_request() -> None:
    body = {"messages": [*_user("Hi")], "tools": [{"type": "function", "function": {"name": "f"}}]}
    before = json.dumps(body, sort_keys=True)
    _request(body["messages"], tools=body["tools"], parallel_tool_calls=False)
    assert json.dumps(body, sort_keys=True) == before


# Properties -----------------------------------------------------------------------------------------

_text = st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=8)


@st.composite
def conversations(draw: st.DrawFn) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    pending: list[str] = []
    for n in range(draw(st.integers(1, 12))):
        role = draw(st.sampled_from(["system", "developer", "user", "assistant", "tool" if pending else "user"]))
        if role == "assistant" and draw(st.booleans()):
            ids = [f"call_{n}_{k}" for k in range(draw(st.integers(1, 3)))]
            calls = [{"id": i, "type": "function", "function": {"name": "f", "arguments": "{}"}} for i in ids]
            messages.append({"role": "assistant", "content": draw(st.none() | _text), "tool_calls": calls})
            pending = ids
        elif role == "tool":
            messages.append({"role": "tool", "tool_call_id": pending.pop(0), "content": draw(_text)})
        else:
            messages.append({"role": role, "content": draw(_text)})
    return messages


@settings(max_examples=200, deadline=None)
@given(conversations())
def test_turns_alternate_and_system_text_keeps_order(messages: list[dict[str, Any]]) -> None:
    out = _request(messages)
    roles = [turn["role"] for turn in out["messages"]]
    assert all(a != b for a, b in itertools.pairwise(roles))
    system_texts = [m["content"] for m in messages if m["role"] in ("system", "developer")]
    system = out.get("system")
    got = [] if system is None else [system] if isinstance(system, str) else [b["text"] for b in system]
    assert got == system_texts
    for turn in out["messages"]:
        blocks = turn["content"] if isinstance(turn["content"], list) else []
        kinds = [b["type"] for b in blocks]
        if "tool_result" in kinds:  # tool results lead their user turn, as Anthropic requires
            assert kinds[: kinds.count("tool_result")] == ["tool_result"] * kinds.count("tool_result")
