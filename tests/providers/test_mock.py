from __future__ import annotations

import base64
import math
import random
import struct
import time
from typing import Any

import httpx
import openai
import orjson
import pytest
from openai.types.chat import ChatCompletionMessageParam

from modelmux.plan.models import ModelRoute, ProviderPlan
from modelmux.providers.base import UpstreamTarget
from modelmux.providers.mock import (
    DEFAULT_RESPONSE,
    MockAdapter,
    MockTransport,
    mock_embedding,
    mock_transport_for,
)
from modelmux.providers.sse import SSEDecoder
from tests.conformance import (
    assert_valid_chat_completion,
    assert_valid_chunk,
    assert_valid_embeddings,
    assert_valid_error,
    assert_valid_models_list,
)

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello to the world"}]


def provider(**options: Any) -> ProviderPlan:
    models = (ModelRoute("demo", "mock-large"), ModelRoute("fast", "mock-small"))
    return ProviderPlan(name="demo-mock", type="mock", base_url="mock://demo-mock", models=models, options=options)


async def send(
    plan: ProviderPlan, body: dict[str, Any], *, stream: bool = False, rng: random.Random | None = None
) -> tuple[MockAdapter, UpstreamTarget, httpx.Response]:
    adapter = MockAdapter(plan)
    target = UpstreamTarget(plan, "demo", "mock-large")
    request = await adapter.build_chat(body, target, stream=stream)
    async with httpx.AsyncClient(transport=mock_transport_for(plan, rng=rng)) as client:
        response = await client.send(request)
    return adapter, target, response


def sse_data(response: httpx.Response) -> list[str]:
    decoder = SSEDecoder()
    return [event.data for event in decoder.feed(response.content) + decoder.finish()]


async def test_json_answer_is_a_valid_completion() -> None:
    adapter, target, response = await send(provider(), {"model": "demo", "messages": MESSAGES})
    assert response.status_code == 200
    raw = response.json()
    assert raw["model"] == "mock-large"
    assert_valid_chat_completion(raw)
    parsed = adapter.parse_chat(response.content, target)
    assert parsed["model"] == "demo"
    assert parsed["choices"][0]["message"]["content"] == DEFAULT_RESPONSE
    assert parsed["choices"][0]["finish_reason"] == "stop"
    assert parsed["usage"] == {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12}


async def test_configured_response_and_max_tokens() -> None:
    plan = provider(response="one two three four")
    _, _, response = await send(plan, {"messages": MESSAGES, "max_tokens": 2})
    choice = response.json()["choices"][0]
    assert (choice["message"]["content"], choice["finish_reason"]) == ("one two", "length")


async def test_stream_is_real_openai_sse() -> None:
    _, _, response = await send(provider(response="Hello  wide world "), {"messages": MESSAGES}, stream=True)
    assert response.headers["content-type"].startswith("text/event-stream")
    data = sse_data(response)
    assert data[-1] == "[DONE]"
    chunks = [orjson.loads(item) for item in data[:-1]]
    for chunk in chunks:
        assert_valid_chunk(chunk)
        assert "usage" not in chunk
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    pieces = [chunk["choices"][0]["delta"].get("content") for chunk in chunks[1:-1]]
    assert pieces == ["Hello", "  wide", " world", " "]
    assert chunks[-1]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    assert len({chunk["id"] for chunk in chunks}) == 1


async def test_stream_with_include_usage_ends_with_a_usage_chunk() -> None:
    body = {"messages": MESSAGES, "stream_options": {"include_usage": True}}
    adapter, target, response = await send(provider(), body, stream=True)
    chunks = [orjson.loads(item) for item in sse_data(response)[:-1]]
    assert all(chunk["usage"] is None for chunk in chunks[:-1])
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12}
    decoded = adapter.stream_decoder(target).feed(response.content)
    assert decoded[-1]["usage"]["total_tokens"] == 12


async def test_failure_rate_one_always_fails_with_failure_status() -> None:
    plan = provider(failure_rate=1.0, failure_status=429)
    adapter, _, response = await send(plan, {"messages": MESSAGES})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"
    assert_valid_error(response.json())
    error = adapter.parse_error(response.status_code, response.headers, response.content)
    assert (error.status, error.type, error.retry_after) == (429, "rate_limit_error", 1.0)


async def test_failures_follow_the_injected_random() -> None:
    transport = MockTransport(provider(failure_rate=0.5), rng=random.Random(7))
    async with httpx.AsyncClient(transport=transport) as client:
        statuses = [
            (await client.post("mock://demo-mock/chat/completions", json={"messages": MESSAGES})).status_code
            for _ in range(20)
        ]
    reference = random.Random(7)
    assert statuses == [503 if reference.random() < 0.5 else 200 for _ in range(20)]
    assert set(statuses) == {200, 503}


async def test_latency_is_honoured() -> None:
    started = time.perf_counter()
    _, _, response = await send(provider(latency=0.05), {"messages": MESSAGES})
    assert response.status_code == 200
    assert time.perf_counter() - started >= 0.05


async def test_embeddings_are_deterministic_unit_vectors() -> None:
    plan = provider(embedding_dimensions=16)
    adapter = MockAdapter(plan)
    target = UpstreamTarget(plan, "embed", "mock-embed")
    async with httpx.AsyncClient(transport=mock_transport_for(plan)) as client:
        first = await client.send(await adapter.build_embeddings({"input": ["alpha", "beta"]}, target))
        again = await client.send(await adapter.build_embeddings({"input": ["alpha", "beta"]}, target))
    parsed = adapter.parse_embeddings(first.content, target)
    assert_valid_embeddings(parsed)
    assert parsed["model"] == "embed"
    assert first.json()["data"] == again.json()["data"]
    alpha, beta = (item["embedding"] for item in parsed["data"])
    assert len(alpha) == 16 and alpha != beta
    assert math.isclose(math.fsum(value * value for value in alpha), 1.0, rel_tol=1e-6)
    assert parsed["usage"] == {"prompt_tokens": 2, "total_tokens": 2}


async def test_embeddings_honour_dimensions_and_base64() -> None:
    transport = mock_transport_for(provider())
    body = {"input": "alpha", "dimensions": 4, "encoding_format": "base64"}
    async with httpx.AsyncClient(transport=transport) as client:
        response = await client.post("mock://demo-mock/embeddings", json=body)
    encoded = response.json()["data"][0]["embedding"]
    decoded = struct.unpack("<4f", base64.b64decode(encoded))
    assert all(math.isclose(a, b, rel_tol=1e-6) for a, b in zip(decoded, mock_embedding("alpha", 4), strict=True))


async def test_models_list_and_unknown_routes() -> None:
    async with httpx.AsyncClient(mounts={"mock://": mock_transport_for(provider())}) as client:
        models = await client.get("mock://demo-mock/models")
        missing = await client.post("mock://demo-mock/completions", json={})
        broken = await client.post("mock://demo-mock/chat/completions", content=b"{nope")
    assert_valid_models_list(models.json())
    assert [model["id"] for model in models.json()["data"]] == ["mock-large", "mock-small"]
    assert missing.status_code == 404 and broken.status_code == 400
    assert_valid_error(missing.json())
    assert_valid_error(broken.json())


async def test_mock_adapter_targets_mock_scheme_without_credentials() -> None:
    plan = ProviderPlan(name="local mock", type="mock", base_url="")
    request = await MockAdapter(plan).build_chat({"messages": []}, UpstreamTarget(plan, "a", "b"), stream=False)
    assert request.url.scheme == "mock"
    assert request.url.path == "/chat/completions"
    assert "authorization" not in request.headers


async def test_openai_sdk_reads_the_mock() -> None:
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Say hello"}]
    http_client = httpx.AsyncClient(transport=mock_transport_for(provider(response="Hi from the SDK")))
    sdk = openai.AsyncOpenAI(base_url="http://mock/v1", api_key="unused", http_client=http_client)  # type: ignore[arg-type]
    async with sdk as client:
        completion = await client.chat.completions.create(model="mock-large", messages=messages)
        stream = await client.chat.completions.create(
            model="mock-large", messages=messages, stream=True, stream_options={"include_usage": True}
        )
        pieces = [chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices]
        embedding = await client.embeddings.create(model="mock-embed", input="alpha")
    assert completion.choices[0].message.content == "Hi from the SDK"
    assert completion.usage is not None and completion.usage.prompt_tokens == 2
    assert "".join(pieces) == "Hi from the SDK"
    assert embedding.data[0].embedding == pytest.approx(mock_embedding("alpha", 8), rel=1e-6)
