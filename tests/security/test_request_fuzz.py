"""Fuzzing request bodies against a running gateway with every security policy on (keys, limits, PII in
both directions, audit): arbitrary JSON, chat-shaped bodies with wrong types, huge and deeply nested
bodies and bytes that are not JSON never yield a 500, and every error is in OpenAI's error shape (the
gateway's test client checks every `/v1` response against OpenAI's schemas)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelmux.security.audit import verify
from modelmux.security.audit_writer import flush_writers
from tests.conformance import assert_valid_error
from tests.e2e.conftest import Gateway, compile_yaml, launch
from tests.security.conftest import ALICE_KEY, bearer

CONFIG = """
version: 1
server:
  max_body_size: 64KB
  max_json_depth: 32
providers:
  - name: mock
    type: mock
    models: ["gpt-4o", "text-embedding-3-small"]
    response: "Write to help@example.com or call 415-555-2671."
    latency: 0ms
auth:
  api_keys:
    - name: fuzz
      key: ${ALICE_KEY}
      user: fuzzer
      org: lab
      rate_limit: {rpm: 100000, tpm: 100000000, concurrent: 50}
pii:
  mode: redact
  apply_to: [request, response]
audit:
  path: audit.jsonl
  include_bodies: true
"""
PATHS = ("/v1/chat/completions", "/v1/embeddings", "/v1/messages")  # the last answers in Anthropic's shape

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
texts = st.text(max_size=60) | st.sampled_from(["a@b.io", "4111 1111 1111 1111", "sk-proj-" + "x1Y2" * 6, ""])
parts = st.fixed_dictionaries({"type": st.sampled_from(["text", "image_url", "input_audio"])}, optional={"text": texts})
messages = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "system", "assistant", "tool", "developer", "robot"]) | json_values},
    optional={
        "content": texts | st.lists(parts | json_values, max_size=3) | json_values,
        "tool_call_id": texts,
        "name": texts,
    },
)
chat_bodies = st.fixed_dictionaries(
    {"model": st.sampled_from(["gpt-4o", "text-embedding-3-small", "nope", ""]) | json_values},
    optional={
        "messages": st.lists(messages | json_values, max_size=4) | json_values,
        "input": texts | st.lists(texts | json_values, max_size=3) | json_values,
        "stream": st.booleans() | json_values,
        "stream_options": st.just({"include_usage": True}) | json_values,
        "max_tokens": st.integers(-5, 5000) | json_values,
        "temperature": st.floats(-1, 3) | json_values,
        "tools": json_values,
        "metadata": json_values,
        "user": json_values,
        "n": json_values,
        "system": texts | json_values,
    },
)


def dumps(value: Any) -> bytes:
    """The standard library's JSON: it writes integers of any size (orjson refuses those past 64 bits)."""
    return json.dumps(value).encode()


def deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


raw_bodies = (
    chat_bodies.map(dumps)
    | json_values.map(dumps)
    | st.binary(max_size=200)
    | st.integers(33, 3000).map(deep)
    | st.integers(65_000, 120_000).map(
        lambda size: orjson.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "x" * size}]})
    )
)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    path = tmp_path_factory.mktemp("fuzz") / "modelmux.yaml"
    plan, public = compile_yaml(path, CONFIG, {"ALICE_KEY": ALICE_KEY})
    served = launch(plan, public, path)
    yield served
    served.stop()
    assert not served.violations, "\n".join(served.violations[:20])


@pytest.fixture(scope="module")
def client(gateway: Gateway) -> httpx.Client:
    return gateway.http()


@pytest.fixture(scope="module")
def raw_client(gateway: Gateway) -> Iterator[httpx.Client]:
    """For `/v1/messages`, whose errors are Anthropic's, not OpenAI's (the checked client knows only OpenAI)."""
    with httpx.Client(base_url=gateway.url, timeout=30.0, trust_env=False) as raw:
        yield raw


def check(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text[:500]
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/json")
        body = response.json()
        if response.url.path == "/v1/messages":
            assert body["type"] == "error" and isinstance(body["error"]["message"], str), body
        else:
            assert_valid_error(body)


@given(body=raw_bodies, path=st.sampled_from(PATHS))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
def test_no_body_yields_a_500_or_a_foreign_error_shape(
    client: httpx.Client, raw_client: httpx.Client, body: bytes, path: str
) -> None:
    headers = {**bearer(ALICE_KEY), "content-type": "application/json"}
    check((raw_client if path == "/v1/messages" else client).post(path, content=body, headers=headers))


@given(
    headers=st.dictionaries(
        st.sampled_from(["authorization", "api-key", "x-api-key", "x-modelmux-latency-budget", "x-modelmux-meta-tier"]),
        st.from_regex(r"[!-~]([ -~]{0,58}[!-~])?", fullmatch=True),
        max_size=3,
    )
)
@settings(max_examples=150, deadline=None)
def test_no_credential_header_yields_a_500(client: httpx.Client, headers: dict[str, str]) -> None:
    check(
        client.post(
            "/v1/chat/completions",
            json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
            headers=headers,
        )
    )


def test_the_audit_log_of_the_fuzzing_verifies(gateway: Gateway, client: httpx.Client) -> None:
    check(
        client.post(
            "/v1/chat/completions",
            json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
            headers=bearer(ALICE_KEY),
        )
    )
    assert flush_writers()
    result = verify(Path(gateway.source.parent / "audit.jsonl"))
    assert result.ok and result.entries >= 1
    assert ALICE_KEY not in (gateway.source.parent / "audit.jsonl").read_text()
