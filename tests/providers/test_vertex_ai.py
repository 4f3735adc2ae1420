"""Claude on Vertex AI: URL, body and headers from golden transcripts; responses, streams and errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from modelmux.plan.models import ProviderPlan, Secret, frozen_mapping
from modelmux.providers.base import UnsupportedOperation, UpstreamTarget
from modelmux.providers.google_credentials import GoogleTokenSource, StaticTokenSource
from modelmux.providers.vertex_ai import VertexAIAdapter, default_base_url
from tests.conformance import assert_valid_chat_completion, assert_valid_chunk

VERTEX = Path(__file__).resolve().parents[2] / "fixtures" / "transcripts" / "vertex_ai"
REQUESTS = sorted(VERTEX.glob("request_*.json"))
OUR_HEADERS = {"authorization", "content-type", "x-goog-user-project"}


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def provider(spec: dict[str, Any]) -> ProviderPlan:
    headers = tuple((name, Secret(f"${{{name}}}", value)) for name, value in spec.get("headers", {}).items())
    return ProviderPlan(
        name=spec["name"],
        type="vertex_ai",
        base_url=spec["base_url"],
        headers=headers,
        options=frozen_mapping(spec["options"]),
    )


def adapter(options: dict[str, Any] | None = None, token: str = "tok") -> VertexAIAdapter:
    spec = {
        "name": "vertex",
        "base_url": "",
        "options": {"project": "p", "location": "us-east5"} if options is None else options,
    }
    return VertexAIAdapter(provider(spec), tokens=StaticTokenSource(token))


def target(plan: ProviderPlan, upstream: str = "claude-sonnet-4-5@20250929") -> UpstreamTarget:
    return UpstreamTarget(plan, "claude", upstream)


@pytest.mark.parametrize("path", REQUESTS, ids=lambda p: p.stem)
async def test_golden_http_request(path: Path) -> None:
    fixture = load(path)
    plan = provider(fixture["provider"])
    vertex = VertexAIAdapter(plan, tokens=StaticTokenSource(fixture["token"]))
    request = await vertex.build_chat(
        fixture["openai_request"], target(plan, fixture["upstream_model"]), stream=fixture["stream"]
    )
    want = fixture["expected_http"]
    assert request.method == want["method"]
    assert str(request.url) == want["url"]
    assert {k: v for k, v in request.headers.items() if k in OUR_HEADERS} == want["headers"]
    body = orjson.loads(request.content)
    assert body == want["body"]
    assert "model" not in body


@pytest.mark.parametrize(
    ("location", "base"),
    [
        ("us-east5", "https://us-east5-aiplatform.googleapis.com"),
        ("europe-west1", "https://europe-west1-aiplatform.googleapis.com"),
        ("global", "https://aiplatform.googleapis.com"),
    ],
)
def test_default_base_url(location: str, base: str) -> None:
    assert default_base_url(location) == base


def test_model_names_are_quoted_but_keep_the_version_at_sign() -> None:
    url = adapter().predict_url("claude/evil?x=1@2025", stream=False)
    assert url.endswith("/publishers/anthropic/models/claude%2Fevil%3Fx%3D1@2025:rawPredict")


def test_a_vertex_anthropic_version_option_is_used() -> None:
    vertex = adapter({"project": "p", "location": "global", "anthropic_version": "vertex-2099-01-01"})
    assert vertex.anthropic_version == "vertex-2099-01-01"


@pytest.mark.parametrize("options", [{"location": "us-east5"}, {"project": "p"}, {}])
def test_project_and_location_are_required(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="project and location"):
        adapter(options)


class CountingTokens:
    def __init__(self) -> None:
        self.calls = 0
        self.closed = False

    async def token(self) -> str:
        self.calls += 1
        return f"token-{self.calls}"

    async def aclose(self) -> None:
        self.closed = True


async def test_each_request_asks_the_token_source_and_aclose_closes_it() -> None:
    tokens = CountingTokens()
    plan = provider({"name": "v", "base_url": "", "options": {"project": "p", "location": "us-east5"}})
    vertex = VertexAIAdapter(plan, tokens=tokens)
    body = {"messages": [{"role": "user", "content": "Hi"}]}
    first = await vertex.build_chat(body, target(plan), stream=False)
    second = await vertex.build_chat(body, target(plan), stream=True)
    assert [first.headers["authorization"], second.headers["authorization"]] == [
        "Bearer token-1",
        "Bearer token-2",
    ]
    await vertex.aclose()
    assert tokens.closed


def test_google_credentials_are_the_default_token_source() -> None:
    plan = provider({"name": "v", "base_url": "", "options": {"project": "p", "location": "us-east5"}})
    assert isinstance(VertexAIAdapter(plan).tokens, GoogleTokenSource)


async def test_embeddings_are_not_served() -> None:
    vertex = adapter()
    with pytest.raises(UnsupportedOperation):
        await vertex.build_embeddings({"input": "x"}, target(vertex.provider))


def test_parse_chat_and_stream_use_the_anthropic_format() -> None:
    vertex = adapter()
    fixture = load(VERTEX / "response_text.json")
    out = vertex.parse_chat(orjson.dumps(fixture["anthropic_response"]), target(vertex.provider))
    assert {**out, "created": fixture["created"]} == fixture["expected_openai_response"]
    assert_valid_chat_completion(out)
    decoder = vertex.stream_decoder(target(vertex.provider))
    chunks = decoder.feed((VERTEX / "stream_text.sse").read_bytes()) + decoder.finish()
    assert chunks == load(VERTEX / "stream_text.json")["expected_chunks"]
    for chunk in chunks:
        assert_valid_chunk({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "claude", **chunk})


@pytest.mark.parametrize("case", load(VERTEX / "errors.json")["cases"], ids=lambda c: c["name"])
def test_parse_error(case: dict[str, Any]) -> None:
    error = adapter().parse_error(case["status"], httpx.Headers(case["headers"]), orjson.dumps(case["body"]))
    assert {k: getattr(error, k) for k in case["expected"]} == case["expected"]
