from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from modelmux.plan.models import ProviderPlan, Secret
from modelmux.providers.azure_openai import AzureOpenAIAdapter
from modelmux.providers.base import CanonicalError, UpstreamTarget
from tests.conformance import assert_valid_chat_completion, assert_valid_chunk, assert_valid_error
from tests.fakes import FakeServer, Reply
from tests.fakes import openai_like as fake
from tests.providers import transcripts

KIND = "azure_openai"


def stamp(chunk: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "chatcmpl-modelmux",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o",
        **chunk,
    }


def adapter(base_url: str, **options: Any) -> AzureOpenAIAdapter:
    provider = ProviderPlan(
        name="azure",
        type=KIND,
        base_url=base_url,
        api_key=Secret("${AZURE_KEY}", "azure-key"),
        options=options,
    )
    return AzureOpenAIAdapter(provider)


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as running:
        yield running


@pytest.mark.parametrize("name", transcripts.names(KIND, "request_*.json"))
async def test_request_matches_transcript(name: str) -> None:
    await transcripts.replay_request(KIND, name)


@pytest.mark.parametrize("name", transcripts.names(KIND, "response_*.json"))
def test_response_keeps_filter_results_and_rewrites_model(name: str) -> None:
    parsed = transcripts.replay_response(KIND, name)
    assert parsed["prompt_filter_results"][0]["prompt_index"] == 0
    assert "content_filter_results" in parsed["choices"][0]
    assert_valid_chat_completion(parsed)


@pytest.mark.parametrize("name", transcripts.names(KIND, "stream_*.sse"))
def test_stream_decodes_at_every_byte_boundary(name: str) -> None:
    a, target, raw, expected = transcripts.stream_case(KIND, name)
    transcripts.assert_decodes_at_every_boundary(a, target, raw, expected)
    for chunk in expected:
        assert_valid_chunk(stamp(chunk))


def test_stream_drops_prompt_filter_and_annotation_chunks() -> None:
    _, _, raw, expected = transcripts.stream_case(KIND, "stream_text.sse")
    assert b"prompt_filter_results" in raw and b"content_filter_offsets" in raw
    assert all(chunk["choices"] or chunk.get("usage") for chunk in expected)
    assert all("delta" in choice for chunk in expected for choice in chunk["choices"])
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in expected if c["choices"])
    assert text == "Γειά σου! 👋"  # noqa: RUF001
    assert expected[-1]["usage"]["total_tokens"] == 20


def test_stream_content_filter_finish_is_kept() -> None:
    _, _, _, expected = transcripts.stream_case(KIND, "stream_content_filter.sse")
    last = expected[-1]["choices"][0]
    assert last["finish_reason"] == "content_filter"
    assert last["content_filter_results"]["violence"] == {"filtered": True, "severity": "medium"}


def test_annotation_with_a_finish_reason_becomes_an_empty_delta() -> None:
    a = adapter("https://contoso.openai.azure.com")
    decoder = a.stream_decoder(UpstreamTarget(a.provider, "m", "m"))
    event = {"choices": [{"index": 0, "finish_reason": "stop", "content_filter_results": {}}], "id": ""}
    chunks = decoder.feed(fake.sse_body([event]))
    assert chunks == [{"choices": [{"index": 0, "finish_reason": "stop", "content_filter_results": {}, "delta": {}}]}]


def test_error_transcripts() -> None:
    for name, actual, expected in transcripts.replay_errors(KIND):
        assert actual == expected, name
        assert_valid_error(CanonicalError(**actual).body())


def test_content_filter_error_is_mapped_faithfully() -> None:
    a = adapter("https://contoso.openai.azure.com")
    error = a.parse_error(400, {}, orjson.dumps(fake.azure_content_filter_error()))
    assert (error.status, error.type, error.code, error.param) == (
        400,
        "invalid_request_error",
        "content_filter",
        "prompt",
    )
    assert error.message.startswith("The response was filtered due to the prompt triggering")


@pytest.mark.parametrize(
    ("base_url", "options", "url"),
    [
        (
            "https://r.openai.azure.com",
            {},
            "https://r.openai.azure.com/openai/deployments/m1/chat/completions?api-version=2024-10-21",
        ),
        (
            "https://r.openai.azure.com/openai/",
            {"api_version": "2025-01-01-preview"},
            "https://r.openai.azure.com/openai/deployments/m1/chat/completions?api-version=2025-01-01-preview",
        ),
        (
            "https://r.openai.azure.com",
            {"deployment": "prod east"},
            "https://r.openai.azure.com/openai/deployments/prod%20east/chat/completions?api-version=2024-10-21",
        ),
        (
            "https://r.openai.azure.com",
            {"api_version": "v1"},
            "https://r.openai.azure.com/openai/v1/chat/completions",
        ),
        (
            "https://r.cognitiveservices.azure.com/openai/v1",
            {"api_version": "latest"},
            "https://r.cognitiveservices.azure.com/openai/v1/chat/completions?api-version=latest",
        ),
    ],
)
async def test_url_forms(base_url: str, options: dict[str, Any], url: str) -> None:
    a = adapter(base_url, **options)
    request = await a.build_chat({"model": "x", "messages": []}, UpstreamTarget(a.provider, "x", "m1"), stream=False)
    assert str(request.url) == url
    assert request.headers["api-key"] == "azure-key"
    assert "authorization" not in request.headers


async def test_deployment_round_trip_over_http(server: FakeServer) -> None:
    path = "/openai/deployments/gpt4o-prod/chat/completions"
    server.script("POST", path, Reply.json(fake.azure_completion("Hi"), headers={"apim-request-id": "1"}))
    a = adapter(server.url, deployment="gpt4o-prod")
    target = UpstreamTarget(a.provider, "gpt-4o", "gpt-4o")
    async with httpx.AsyncClient() as client:
        response = await client.send(await a.build_chat({"model": "gpt-4o", "messages": []}, target, stream=False))
    parsed = a.parse_chat(response.content, target)
    assert parsed["model"] == "gpt-4o"
    assert_valid_chat_completion(parsed)
    (received,) = server.requests
    assert received.params == {"api-version": "2024-10-21"}
    assert received.header("api-key") == "azure-key"
    assert "model" not in received.json()


async def test_stream_over_http_skips_the_filter_chunk(server: FakeServer) -> None:
    raw = fake.sse_body(fake.azure_chunks(["Hé", "llo"]))
    server.script("POST", "/openai/v1/chat/completions", Reply.sse([raw[:50], 0.01, raw[50:]]))
    a = adapter(server.url_for("/openai/v1"))
    target = UpstreamTarget(a.provider, "gpt-4o", "gpt-4o")
    decoder = a.stream_decoder(target)
    chunks = []
    async with (
        httpx.AsyncClient() as client,
        client.stream("POST", server.url_for("/openai/v1/chat/completions"), content=b"{}") as response,
    ):
        async for data in response.aiter_raw():
            chunks += decoder.feed(data)
    chunks += decoder.finish()
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert [c["choices"][0]["finish_reason"] for c in chunks][-1] == "stop"


async def test_429_over_http_carries_retry_after_ms(server: FakeServer) -> None:
    body = {"error": {"code": "429", "message": "Rate limit is exceeded. Try again in 2 seconds."}}
    headers = {"retry-after": "2", "retry-after-ms": "1800"}
    server.script("POST", "/openai/deployments/m/embeddings", Reply.json(body, status=429, headers=headers))
    a = adapter(server.url)
    async with httpx.AsyncClient() as client:
        request = await a.build_embeddings({"model": "e", "input": "x"}, UpstreamTarget(a.provider, "e", "m"))
        response = await client.send(request)
    error = a.parse_error(response.status_code, response.headers, response.content)
    assert (error.status, error.type, error.code, error.retry_after) == (429, "rate_limit_error", "429", 1.8)
    assert server.requests[0].json() == {"input": "x"}
