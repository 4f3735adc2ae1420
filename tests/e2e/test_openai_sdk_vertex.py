"""The official OpenAI SDK through ModelMux to Claude on Vertex AI: a fake Vertex endpoint and a fake
Google token endpoint (both on 127.0.0.1) behind a real service-account key file and google-auth."""

from __future__ import annotations

import json
from pathlib import Path

import openai
import pytest

from tests.conformance import assert_valid_chat_completion
from tests.e2e.conftest import (
    USER_HI,
    Gateway,
    GatewayFor,
    assert_error_response,
    assert_modelmux_headers,
    assert_one_stream_identity,
    received,
    stream_raw,
)
from tests.fakes import FakeServer, Reply
from tests.fakes import anthropic_like as an
from tests.fakes import google_token as gt

CONFIG = """
version: 1
providers:
  - name: vertex
    type: vertex_ai
    project: modelmux-test
    location: us-east5
    base_url: ${UPSTREAM_URL}
    credentials: ${SA_FILE}
    token_url: ${UPSTREAM_URL}/token
    models:
      claude-sonnet: claude-sonnet-4-5@20250929
"""
MODEL_PATH = "/v1/projects/modelmux-test/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929"
PREDICT = MODEL_PATH + ":rawPredict"
STREAM = MODEL_PATH + ":streamRawPredict"


def serve(gateway_for: GatewayFor, upstream: FakeServer, tmp_path: Path, token: Reply | None = None) -> Gateway:
    # The key file names a token endpoint nobody serves: the provider's token_url must win.
    key = gt.write_service_account(tmp_path / "sa.json", "http://127.0.0.1:9/never-used")
    upstream.script("POST", gt.TOKEN_PATH, token or Reply.json(gt.token_response("ya29.e2e-token")))
    return gateway_for(upstream, CONFIG, {"SA_FILE": str(key)})


def test_json_completion_with_a_google_token(gateway_for: GatewayFor, upstream: FakeServer, tmp_path: Path) -> None:
    upstream.script("POST", PREDICT, Reply.json(an.message("Hello from Vertex.")))
    gateway = serve(gateway_for, upstream, tmp_path)
    sdk = gateway.client()
    raw = sdk.chat.completions.with_raw_response.create(model="claude-sonnet", messages=USER_HI, max_tokens=64)
    body = json.loads(raw.text)
    assert_valid_chat_completion(body)
    assert_modelmux_headers(raw.headers, provider="vertex", attempts=1)
    assert body["model"] == "claude-sonnet"
    assert body["choices"][0]["message"]["content"] == "Hello from Vertex."
    sdk.chat.completions.create(model="claude-sonnet", messages=USER_HI)
    sent = received(upstream, PREDICT)
    assert sent.header("authorization") == "Bearer ya29.e2e-token"
    assert sent.json() == {
        "anthropic_version": "vertex-2023-10-16",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "Say hello."}],
    }
    tokens = upstream.requests_to(gt.TOKEN_PATH)
    assert len(tokens) == 1, "the access token must be cached across requests"
    grant = gt.parse_token_request(tokens[0].body)
    assert grant.grant_type == gt.JWT_BEARER_GRANT
    assert grant.claims["iss"] == gt.CLIENT_EMAIL
    assert grant.claims["scope"] == "https://www.googleapis.com/auth/cloud-platform"


def test_stream_uses_stream_raw_predict(gateway_for: GatewayFor, upstream: FakeServer, tmp_path: Path) -> None:
    events = an.stream_events(("Ciao", " from", " Vertex"), input_tokens=9, output_tokens=3)
    upstream.script("POST", STREAM, Reply.sse([an.sse_body(events)]))
    gateway = serve(gateway_for, upstream, tmp_path)
    stream = stream_raw(
        gateway, {"model": "claude-sonnet", "messages": USER_HI, "stream_options": {"include_usage": True}}
    )
    assert stream.status == 200 and stream.done and not stream.errors
    assert_modelmux_headers(stream.headers, provider="vertex", attempts=1)
    assert_one_stream_identity(stream.chunks, "claude-sonnet")
    assert stream.text() == "Ciao from Vertex"
    assert stream.chunks[-1]["usage"]["total_tokens"] == 12
    sent = received(upstream, STREAM)
    assert sent.json()["stream"] is True
    assert sent.header("authorization") == "Bearer ya29.e2e-token"
    with gateway.client().chat.completions.create(model="claude-sonnet", messages=USER_HI, stream=True) as sdk_stream:
        assert "".join(c.choices[0].delta.content or "" for c in sdk_stream if c.choices) == "Ciao from Vertex"


def test_token_endpoint_failure_is_a_503_without_calling_vertex(
    gateway_for: GatewayFor, upstream: FakeServer, tmp_path: Path
) -> None:
    upstream.script("POST", PREDICT, Reply.json(an.message()))
    gateway = serve(gateway_for, upstream, tmp_path, Reply.json(gt.token_error(), status=400))
    with pytest.raises(openai.InternalServerError) as caught:
        gateway.client().chat.completions.create(model="claude-sonnet", messages=USER_HI)
    assert caught.value.status_code == 503
    assert "Google access token" in caught.value.message
    assert_error_response(caught.value.response, 503)
    assert upstream.requests_to(PREDICT) == []


def test_vertex_errors_keep_their_status(gateway_for: GatewayFor, upstream: FakeServer, tmp_path: Path) -> None:
    google_429 = {
        "error": {
            "code": 429,
            "message": "Quota exceeded for aiplatform.googleapis.com",
            "status": "RESOURCE_EXHAUSTED",
        }
    }
    upstream.script("POST", PREDICT, Reply.json(google_429, status=429))
    gateway = serve(gateway_for, upstream, tmp_path)
    with pytest.raises(openai.RateLimitError) as caught:
        gateway.client().chat.completions.create(model="claude-sonnet", messages=USER_HI)
    assert "Quota exceeded" in caught.value.message
