from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from modelmux.plan.models import ProviderPlan, Secret
from modelmux.providers.base import CanonicalError, UpstreamTarget
from modelmux.providers.openai_compatible import OpenAICompatibleAdapter, finish_reason
from tests.conformance import (
    assert_valid_chat_completion,
    assert_valid_chunk,
    assert_valid_embeddings,
    assert_valid_error,
)
from tests.fakes import FakeServer, Reply
from tests.fakes import openai_like as fake
from tests.providers import transcripts

KIND = "openai_compatible"


def stamp(chunk: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "chatcmpl-modelmux",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "local",
        **chunk,
    }


def adapter(base_url: str = "http://localhost:8000/v1", key: str | None = None) -> OpenAICompatibleAdapter:
    secret = None if key is None else Secret("${KEY}", key)
    return OpenAICompatibleAdapter(
        ProviderPlan(name="local", type=KIND, base_url=base_url, api_key=secret, wildcard=True)
    )


def decode(events: list[dict[str, Any]], *, done: bool = True) -> list[dict[str, Any]]:
    a = adapter()
    return transcripts.decode(
        a.stream_decoder(UpstreamTarget(a.provider, "m", "m")), [fake.sse_body(events, done=done)]
    )


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as running:
        yield running


@pytest.mark.parametrize("name", transcripts.names(KIND, "request_*.json"))
async def test_request_matches_transcript(name: str) -> None:
    await transcripts.replay_request(KIND, name)


@pytest.mark.parametrize("name", transcripts.names(KIND, "response_*.json"))
def test_response_is_completed_to_openai_schema(name: str) -> None:
    parsed = transcripts.replay_response(KIND, name)
    assert parsed["model"] == "local"
    assert_valid_chat_completion(parsed)


@pytest.mark.parametrize("name", transcripts.names(KIND, "stream_*.sse"))
def test_stream_decodes_at_every_byte_boundary(name: str) -> None:
    a, target, raw, expected = transcripts.stream_case(KIND, name)
    transcripts.assert_decodes_at_every_boundary(a, target, raw, expected)
    for chunk in expected:
        assert_valid_chunk(stamp(chunk))
    finishes = [choice["finish_reason"] for chunk in expected for choice in chunk["choices"]]
    assert finishes[-1] in ("stop", "tool_calls") and finishes.count(None) == len(finishes) - 1


def test_missing_finish_reason_is_closed_before_the_usage_chunk() -> None:
    _, _, _, expected = transcripts.stream_case(KIND, "stream_usage_without_finish.sse")
    assert expected[-2] == {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    assert expected[-1]["usage"] == {"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16}


def test_tool_calls_without_index_get_one_and_finish_as_tool_calls() -> None:
    _, _, _, expected = transcripts.stream_case(KIND, "stream_tool_calls_no_index.sse")
    calls = [
        call for chunk in expected for choice in chunk["choices"] for call in choice["delta"].get("tool_calls", ())
    ]
    assert [call["index"] for call in calls] == [0, 1]
    assert expected[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_response_fills_required_fields() -> None:
    parsed = transcripts.replay_response(KIND, "response_minimal.json")
    assert parsed["id"].startswith("chatcmpl-") and isinstance(parsed["created"], int)
    assert parsed["choices"][0] == {
        "index": 0,
        "message": {"role": "assistant", "content": "Γειά σου!", "refusal": None},  # noqa: RUF001
        "logprobs": None,
        "finish_reason": "stop",
    }
    assert parsed["usage"] == {"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16}


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        ("stop", "stop"),
        ("eos_token", "stop"),
        ("max_tokens", "length"),
        ("abort", "stop"),
        (None, None),
        (3, "stop"),
    ],
)
def test_finish_reasons_map_to_openai_values(sent: Any, expected: str | None) -> None:
    assert finish_reason(sent) == expected


def test_empty_chunks_are_dropped_and_usage_totals_filled() -> None:
    chunks = decode(
        [
            {"choices": []},
            {
                "choices": [{"delta": {"content": "x"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 2, "completion_tokens": 1},
            },
        ]
    )
    assert chunks == [
        {
            "choices": [{"delta": {"content": "x"}, "finish_reason": "stop", "index": 0}],
            "usage": {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3},
        }
    ]


def test_error_transcripts() -> None:
    for name, actual, expected in transcripts.replay_errors(KIND):
        assert actual == expected, name
        assert_valid_error(CanonicalError(**actual).body())


def test_base_url_is_required() -> None:
    with pytest.raises(ValueError, match="needs a base_url"):
        OpenAICompatibleAdapter(ProviderPlan(name="x", type=KIND, base_url=""))


def test_embeddings_are_completed_to_openai_schema() -> None:
    a = adapter()
    target = UpstreamTarget(a.provider, "embed", "nomic-embed-text")
    parsed = a.parse_embeddings(
        orjson.dumps({"model": "nomic-embed-text", "data": [{"embedding": [0.5, -0.5]}]}), target
    )
    assert parsed == {
        "model": "embed",
        "object": "list",
        "data": [{"embedding": [0.5, -0.5], "object": "embedding", "index": 0}],
        "usage": {"prompt_tokens": 0, "total_tokens": 0},
    }
    assert_valid_embeddings(parsed)


async def test_no_authorization_without_a_key_over_http(server: FakeServer) -> None:
    upstream = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "llama3.2",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
    }
    server.script("POST", "/v1/chat/completions", Reply.json(upstream))
    a = adapter(server.url_for("/v1"))
    target = UpstreamTarget(a.provider, "local", "llama3.2")
    async with httpx.AsyncClient() as client:
        response = await client.send(await a.build_chat({"model": "local", "messages": []}, target, stream=False))
    parsed = a.parse_chat(response.content, target)
    assert_valid_chat_completion(parsed)
    assert server.requests[0].header("authorization") is None
    assert server.requests[0].json()["model"] == "llama3.2"


async def test_stream_that_ends_without_done_over_http(server: FakeServer) -> None:
    raw = fake.sse_body([{"choices": [{"delta": {"content": "Ωραία"}}]}], done=False)
    server.script("POST", "/v1/chat/completions", Reply.sse([raw[:20], 0.01, raw[20:]]))
    a = adapter(server.url_for("/v1"), key="k")
    target = UpstreamTarget(a.provider, "local", "llama3.2")
    decoder = a.stream_decoder(target)
    chunks = []
    async with httpx.AsyncClient() as client:
        response = await client.send(await a.build_chat({"messages": []}, target, stream=True), stream=True)
        async for data in response.aiter_raw():
            chunks += decoder.feed(data)
        await response.aclose()
    chunks += decoder.finish()
    assert [c["choices"][0] for c in chunks] == [
        {"delta": {"content": "Ωραία"}, "index": 0, "finish_reason": None},
        {"index": 0, "delta": {}, "finish_reason": "stop"},
    ]
    assert server.requests[0].header("authorization") == "Bearer k"
