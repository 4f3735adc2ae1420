"""The official OpenAI SDK through ModelMux to `azure_openai` upstreams (a fake Azure resource)."""

from __future__ import annotations

import json

import openai
import pytest

from tests.conformance import assert_valid_chat_completion, assert_valid_embeddings
from tests.e2e.conftest import (
    TEST_API_KEY,
    USER_HI,
    GatewayFor,
    assert_error_response,
    assert_modelmux_headers,
    assert_one_stream_identity,
    received,
    stream_raw,
)
from tests.fakes import FakeServer, Reply
from tests.fakes import openai_like as oa

DEPLOYMENT_CONFIG = """
version: 1
providers:
  - name: azure-east
    type: azure_openai
    api_key: ${TEST_API_KEY}
    base_url: ${UPSTREAM_URL}
    api_version: "2024-10-21"
    models:
      gpt-4o: prod-gpt4o
      text-embedding-3-small: prod-embed
"""
V1_CONFIG = """
version: 1
providers:
  - name: azure-v1
    type: azure_openai
    api_key: ${TEST_API_KEY}
    base_url: ${UPSTREAM_URL}/openai/v1
    models:
      gpt-4o: prod-gpt4o
"""
CHAT = "/openai/deployments/prod-gpt4o/chat/completions"


def test_json_completion_on_a_deployment(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    upstream.script("POST", CHAT, Reply.json(oa.azure_completion("Hi from Azure.")))
    gateway = gateway_for(upstream, DEPLOYMENT_CONFIG)
    raw = gateway.client().chat.completions.with_raw_response.create(model="gpt-4o", messages=USER_HI)
    body = json.loads(raw.text)
    assert_valid_chat_completion(body)
    assert_modelmux_headers(raw.headers, provider="azure-east", attempts=1)
    assert body["model"] == "gpt-4o"
    assert body["choices"][0]["message"]["content"] == "Hi from Azure."
    assert "refusal" in body["choices"][0]["message"] and "logprobs" in body["choices"][0]
    sent = received(upstream, CHAT)
    assert sent.params == {"api-version": "2024-10-21"}
    assert sent.header("api-key") == TEST_API_KEY
    assert sent.header("authorization") is None
    assert "model" not in sent.json()
    assert sent.json()["messages"] == USER_HI


def test_v1_form_names_the_deployment_as_model(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    upstream.script("POST", "/openai/v1/chat/completions", Reply.json(oa.azure_completion()))
    gateway = gateway_for(upstream, V1_CONFIG)
    completion = gateway.client().chat.completions.create(model="gpt-4o", messages=USER_HI)
    assert completion.model == "gpt-4o"
    sent = received(upstream, "/openai/v1/chat/completions")
    assert sent.json()["model"] == "prod-gpt4o"
    assert sent.header("api-key") == TEST_API_KEY


def test_stream_drops_the_prompt_filter_chunk(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    upstream.script("POST", CHAT, Reply.sse([oa.sse_body(oa.azure_chunks())]))
    gateway = gateway_for(upstream, DEPLOYMENT_CONFIG)
    stream = stream_raw(gateway, {"model": "gpt-4o", "messages": USER_HI})
    assert stream.status == 200 and stream.done and not stream.errors
    assert_modelmux_headers(stream.headers, provider="azure-east", attempts=1)
    chunks = stream.chunks
    assert_one_stream_identity(chunks, "gpt-4o")
    assert all(chunk["choices"] for chunk in chunks), "Azure's prompt filter chunk reached the client"
    assert stream.text() == "Hello! How can I help?"
    assert received(upstream, CHAT).json()["stream"] is True
    with gateway.client().chat.completions.create(model="gpt-4o", messages=USER_HI, stream=True) as sdk_stream:
        assert "".join(c.choices[0].delta.content or "" for c in sdk_stream) == "Hello! How can I help?"


def test_content_filter_error_is_a_bad_request(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    upstream.script("POST", CHAT, Reply.json(oa.azure_content_filter_error(), status=400))
    gateway = gateway_for(upstream, DEPLOYMENT_CONFIG)
    with pytest.raises(openai.BadRequestError) as caught:
        gateway.client().chat.completions.create(model="gpt-4o", messages=USER_HI)
    assert caught.value.code == "content_filter"
    assert caught.value.param == "prompt"
    assert "content management policy" in caught.value.message
    assert_error_response(caught.value.response, 400, code="content_filter")
    assert len(upstream.requests) == 1


def test_embeddings_on_a_deployment(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    path = "/openai/deployments/prod-embed/embeddings"
    upstream.script("POST", path, Reply.json(oa.embeddings([[0.25, 0.75]], model="text-embedding-3-small")))
    gateway = gateway_for(upstream, DEPLOYMENT_CONFIG)
    raw = gateway.client().embeddings.with_raw_response.create(
        model="text-embedding-3-small", input="hello", encoding_format="float"
    )
    assert_valid_embeddings(json.loads(raw.text))
    assert raw.parse().data[0].embedding == [0.25, 0.75]
    sent = received(upstream, path)
    assert sent.params == {"api-version": "2024-10-21"}
    assert sent.json() == {"input": "hello", "encoding_format": "float"}
