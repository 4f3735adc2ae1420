"""Hardening: header size limit (431), CORS off unless configured, and `modelmux keys create`."""

from __future__ import annotations

import httpx
from typer.testing import CliRunner

from modelmux.cli.app import app
from modelmux.security.keys import KeyTable, entry_from_section, mask, sha256_hex
from tests.e2e.conftest import GatewayFor, assert_error_response
from tests.fakes import FakeServer
from tests.security.conftest import ALICE_KEY, AUTH, CHAT, HI, KEYS_ENV, PROVIDERS, bearer

CORS = """
server:
  cors:
    allow_origins: ["https://app.example.com", "https://*.tools.example.com"]
    allow_headers: [authorization, content-type]
    max_age: 10m
"""


def test_oversized_headers_get_431(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    gateway = gateway_for(upstream, PROVIDERS + "server:\n  max_header_size: 2KB\n")
    response = gateway.http().post(CHAT, json={"model": "gpt-4o", "messages": HI}, headers={"x-padding": "a" * 3000})
    assert_error_response(response, 431, code="request_header_fields_too_large")
    assert not upstream.requests


def preflight_client(url: str) -> httpx.Client:
    """A plain client: preflight answers are not OpenAI responses, so the schema check does not apply."""
    return httpx.Client(base_url=url, timeout=10.0, trust_env=False)


def test_cors_is_off_unless_configured(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    gateway = gateway_for(upstream, PROVIDERS)
    with preflight_client(gateway.url) as raw:
        preflight = raw.options(
            CHAT, headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"}
        )
    assert "access-control-allow-origin" not in preflight.headers
    answer = gateway.http().get("/v1/models", headers={"Origin": "https://app.example.com"})
    assert "access-control-allow-origin" not in answer.headers


def test_configured_cors_answers_preflights_and_marks_responses(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    gateway = gateway_for(upstream, PROVIDERS + CORS + AUTH, KEYS_ENV)
    client = gateway.http()
    with preflight_client(gateway.url) as raw:
        preflight = raw.options(
            CHAT,
            headers={
                "Origin": "https://app.example.com",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
    assert preflight.status_code == 204  # no credential needed for a preflight
    assert preflight.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert preflight.headers["access-control-allow-headers"] == "authorization, content-type"
    assert preflight.headers["access-control-max-age"] == "600"
    answer = client.get("/v1/models", headers={"Origin": "https://a.tools.example.com", **bearer(ALICE_KEY)})
    assert answer.headers["access-control-allow-origin"] == "https://a.tools.example.com"
    assert "X-Request-Id" in answer.headers["access-control-expose-headers"]
    refused = client.get("/v1/models", headers={"Origin": "https://evil.example.net", **bearer(ALICE_KEY)})
    assert "access-control-allow-origin" not in refused.headers


def test_keys_create_prints_the_key_once_and_its_digest() -> None:
    result = CliRunner().invoke(app, ["keys", "create", "ci-bot", "--role", "member"])
    assert result.exit_code == 0
    key = next(line.strip() for line in result.output.splitlines() if line.strip().startswith("mm-"))
    assert len(key) == 3 + 43
    assert "- name: ci-bot" in result.output and f"  key_sha256: {sha256_hex(key)}" in result.output
    assert "  role: member" in result.output
    table = KeyTable([entry_from_section({"name": "ci-bot", "key_sha256": sha256_hex(key)})])
    assert table.find(key) is not None and table.find(key + "x") is None


def test_masking_shows_at_most_a_few_characters() -> None:
    assert mask("mm-abcdefghijklmnopqrstuvwxyz") == "mm-ab****wxyz"
    assert mask("ABCDEFGHIJKLMNOPQRSTUVWXYZ") == "ABCD****WXYZ"
    assert mask("short-key") == "****"


def test_a_body_over_the_limit_gets_413_and_a_closed_connection(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    gateway = gateway_for(upstream, PROVIDERS + "server:\n  max_body_size: 1KB\n")
    client = gateway.http()
    big = {"model": "gpt-4o", "messages": [{"role": "user", "content": "x" * 400_000}]}
    response = client.post(CHAT, json=big)
    assert_error_response(response, 413, code="request_too_large")
    assert response.headers["connection"] == "close"  # the unread rest of the body cannot be parsed as a request
    assert_error_response(client.post(CHAT, json={"model": "gpt-4o"}), 400)  # the client goes on, reconnected
