"""API keys against a running gateway: 401 without or with a wrong key, the three credential headers,
403 for models and endpoints a role does not allow, and who may use /admin."""

from __future__ import annotations

from tests.e2e.conftest import GatewayFor, assert_error_response, received
from tests.fakes import FakeServer
from tests.security.conftest import (
    ALICE_KEY,
    AUTH,
    BOB_KEY,
    CHAT,
    HI,
    KEYS_ENV,
    OPS_KEY,
    PROVIDERS,
    bearer,
    chat,
    script_completion,
)


def test_a_request_without_a_key_is_refused(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    gateway = gateway_for(upstream, PROVIDERS + AUTH, KEYS_ENV)
    error = assert_error_response(chat(gateway.http(), key=None), 401, code="invalid_api_key")
    assert "didn't provide an API key" in error["message"]
    assert not upstream.requests


def test_a_wrong_key_is_refused_showing_at_most_a_few_of_its_characters(
    gateway_for: GatewayFor, upstream: FakeServer
) -> None:
    gateway = gateway_for(upstream, PROVIDERS + AUTH, KEYS_ENV)
    wrong = "mm-abXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXwxyz"
    error = assert_error_response(chat(gateway.http(), key=wrong), 401, code="invalid_api_key")
    assert "mm-ab****wxyz" in error["message"]
    assert "XXXX" not in error["message"]
    assert not upstream.requests


def test_a_short_wrong_key_is_not_shown_at_all(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    gateway = gateway_for(upstream, PROVIDERS + AUTH, KEYS_ENV)
    error = assert_error_response(chat(gateway.http(), key="secret123"), 401, code="invalid_api_key")
    assert "secret123" not in error["message"] and "****" in error["message"]


def test_keys_work_in_each_credential_header(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    script_completion(upstream)
    gateway = gateway_for(upstream, PROVIDERS + AUTH, KEYS_ENV)
    client = gateway.http()
    body = {"model": "gpt-4o", "messages": HI}
    for headers in (bearer(ALICE_KEY), {"api-key": ALICE_KEY}, {"x-api-key": ALICE_KEY}, bearer(OPS_KEY)):
        assert client.post(CHAT, json=body, headers=headers).status_code == 200, headers


def test_a_model_the_role_does_not_allow_is_forbidden(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    gateway = gateway_for(upstream, PROVIDERS + AUTH, KEYS_ENV)
    error = assert_error_response(chat(gateway.http(), model="o1"), 403, code="model_not_allowed")
    assert "o1" in error["message"]
    assert not upstream.requests


def test_a_keys_own_models_narrow_its_role(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    script_completion(upstream)
    gateway = gateway_for(upstream, PROVIDERS + AUTH, KEYS_ENV)
    client = gateway.http()
    assert_error_response(chat(client, key=BOB_KEY, model="gpt-4o"), 403, code="model_not_allowed")
    assert chat(client, key=BOB_KEY, model="gpt-4o-mini").status_code == 200


def test_an_endpoint_the_role_does_not_allow_is_forbidden(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    config = PROVIDERS + AUTH.replace(
        'models: ["gpt-4o*", "text-embedding-*"]', 'models: ["*"]\n      endpoints: [chat]'
    )
    gateway = gateway_for(upstream, config, KEYS_ENV)
    response = gateway.http().post(
        "/v1/embeddings", json={"model": "text-embedding-3-small", "input": "hi"}, headers=bearer(ALICE_KEY)
    )
    assert_error_response(response, 403, code="model_not_allowed")
    assert_error_response(gateway.http().get("/v1/models", headers=bearer(ALICE_KEY)), 403, code="model_not_allowed")


def test_the_model_list_needs_a_key_too(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    gateway = gateway_for(upstream, PROVIDERS + AUTH, KEYS_ENV)
    client = gateway.http()
    assert_error_response(client.get("/v1/models"), 401, code="invalid_api_key")
    assert_error_response(client.get("/v1/models/gpt-4o"), 401, code="invalid_api_key")
    assert client.get("/v1/models", headers=bearer(ALICE_KEY)).status_code == 200


def test_admin_needs_an_admin_role(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    gateway = gateway_for(upstream, PROVIDERS + AUTH, KEYS_ENV)
    client = gateway.http()
    assert client.get("/admin/plan").status_code == 401  # loopback no longer suffices once auth is on
    forbidden = client.get("/admin/plan", headers=bearer(ALICE_KEY))
    assert forbidden.status_code == 403
    assert forbidden.json()["error"]["type"] == "permission_error"
    assert client.get("/admin/providers", headers=bearer(OPS_KEY)).status_code == 200


def test_the_admin_token_still_opens_admin_with_auth_on(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    config = PROVIDERS + "server:\n  admin_token: ${ADMIN_TOKEN}\n" + AUTH
    gateway = gateway_for(upstream, config, {**KEYS_ENV, "ADMIN_TOKEN": "admin-token-0123456789"})
    client = gateway.http()
    assert client.get("/admin/plan", headers=bearer("admin-token-0123456789")).status_code == 200
    assert client.get("/admin/plan", headers=bearer(OPS_KEY)).status_code == 200
    assert client.get("/admin/plan", headers=bearer(ALICE_KEY)).status_code == 403


def test_admin_plan_never_shows_keys(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    gateway = gateway_for(upstream, PROVIDERS + AUTH, KEYS_ENV)
    text = gateway.http().get("/admin/plan", headers=bearer(OPS_KEY)).text
    assert ALICE_KEY not in text and BOB_KEY not in text and "${ALICE_KEY}" in text


def test_the_identity_reaches_routing_rules(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    rules = """
routing:
  rules:
    - if: org == "acme" and team == "research" and role == "member"
      provider: up
      model: gpt-4o-mini
"""
    script_completion(upstream)
    gateway = gateway_for(upstream, PROVIDERS + AUTH + rules, KEYS_ENV)
    response = chat(gateway.http())
    assert response.status_code == 200
    assert received(upstream, CHAT).json()["model"] == "gpt-4o-mini"


def test_client_credentials_never_reach_the_upstream(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    script_completion(upstream)
    gateway = gateway_for(upstream, PROVIDERS + AUTH, KEYS_ENV)
    headers = {
        "Authorization": f"Bearer {ALICE_KEY}",
        "api-key": "client-api-key-value",
        "x-api-key": "client-x-api-key-value",
        "x-goog-api-key": "client-goog-key-value",
    }
    response = gateway.http().post(CHAT, json={"model": "gpt-4o", "messages": HI}, headers=headers)
    assert response.status_code == 200
    sent = received(upstream, CHAT)
    assert sent.header("authorization") == "Bearer sk-test-modelmux-e2e-0123456789"
    for name in ("api-key", "x-api-key", "x-goog-api-key"):
        assert sent.header(name) is None, name
    assert not any(ALICE_KEY in value or "client-" in value for _, value in sent.headers)
