"""Operations endpoints over HTTP: health, readiness, the plan, reload, provider state, and the
headers every response carries."""

from __future__ import annotations

import openai
import pytest

from tests.e2e.conftest import (
    TEST_API_KEY,
    USER_HI,
    GatewayFor,
    GatewayStarter,
    assert_error_response,
    assert_modelmux_headers,
)
from tests.fakes import FakeServer, Reply
from tests.fakes import openai_like as oa

MOCKS = """
version: 1
providers:
  - name: alpha
    type: mock
    models: ["gpt-4o-mini"]
    response: "alpha says hi"
"""
BROKEN = """
version: 1
providers:
  - name: broken
    type: mock
    models: ["gpt-4o-mini"]
    failure_rate: 1.0
    failure_status: 503
    circuit_breaker: {failures: 1, window: 1m, cooldown: 5m}
"""
ROUTED = """
version: 1
providers:
  - name: openai-main
    type: openai
    api_key: ${TEST_API_KEY}
    base_url: ${UPSTREAM_URL}/v1
    models: ["gpt-4o", "gpt-4o-mini"]
  - name: backup
    type: mock
    models: ["gpt-4o-mini"]
routing:
  rules:
    - if: model == "gpt-4o"
      provider: openai-main
"""


def test_health_answers_with_every_header(start_gateway: GatewayStarter) -> None:
    response = start_gateway(MOCKS).http().get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["generation"] == 1 and len(body["fingerprint"]) == 16
    assert_modelmux_headers(response.headers, provider="", attempts=0)


def test_ready_names_the_plan(start_gateway: GatewayStarter) -> None:
    client = start_gateway(MOCKS).http()
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert ready.json()["fingerprint"] == client.get("/admin/plan").json()["plan"]["fingerprint"]
    assert_modelmux_headers(ready.headers)


def test_not_ready_when_every_provider_is_down(start_gateway: GatewayStarter) -> None:
    gateway = start_gateway(BROKEN)
    client = gateway.http()
    assert client.get("/health/ready").status_code == 200
    with pytest.raises(openai.InternalServerError):
        gateway.client().chat.completions.create(model="gpt-4o-mini", messages=USER_HI)
    not_ready = client.get("/health/ready")
    assert not_ready.status_code == 503
    assert not_ready.json()["status"] == "not_ready"
    assert client.get("/health").status_code == 200, "liveness does not depend on the providers"
    providers = client.get("/admin/providers").json()["providers"]
    assert [(p["name"], p["breaker"]) for p in providers] == [("broken", "open")]
    with pytest.raises(openai.InternalServerError) as caught:
        gateway.client().chat.completions.create(model="gpt-4o-mini", messages=USER_HI)
    assert caught.value.status_code == 503
    assert caught.value.code == "no_available_provider"
    assert caught.value.response.headers["x-modelmux-attempts"] == "0"


def test_admin_plan_shows_templates_never_secrets(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    gateway = gateway_for(upstream, ROUTED)
    response = gateway.http().get("/admin/plan")
    assert response.status_code == 200
    assert_modelmux_headers(response.headers)
    assert TEST_API_KEY not in response.text
    assert "${TEST_API_KEY}" in response.text
    document = response.json()
    assert document["plan"]["models"] == {"gpt-4o": ["openai-main"], "gpt-4o-mini": ["openai-main", "backup"]}
    assert document["plan"]["fingerprint"] == gateway.plan.fingerprint


def test_route_header_names_the_matching_rule(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    upstream.script("POST", "/v1/chat/completions", Reply.json(oa.chat_completion()))
    gateway = gateway_for(upstream, ROUTED)
    rule = gateway.http().get("/admin/plan").json()["plan"]["routing"]["rules"][0]["name"]
    routed = gateway.client().chat.completions.with_raw_response.create(model="gpt-4o", messages=USER_HI)
    assert_modelmux_headers(routed.headers, provider="openai-main", attempts=1)
    assert routed.headers["x-modelmux-route"] == rule
    default = gateway.client().chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=USER_HI)
    assert default.headers["x-modelmux-route"] == "default"


def test_admin_token_guards_the_admin_endpoints(start_gateway: GatewayStarter) -> None:
    config = MOCKS.replace("version: 1\n", "version: 1\nserver:\n  admin_token: ${ADMIN_TOKEN}\n")
    client = start_gateway(config, {"ADMIN_TOKEN": "admin-secret-123"}).http()
    for path in ("/admin/plan", "/admin/providers"):
        assert_error_response(client.get(path), 401, code="invalid_admin_token")
        wrong = client.get(path, headers={"Authorization": "Bearer nope"})
        assert_error_response(wrong, 401)
        allowed = client.get(path, headers={"Authorization": "Bearer admin-secret-123"})
        assert allowed.status_code == 200
    assert (
        "admin-secret-123" not in client.get("/admin/plan", headers={"Authorization": "Bearer admin-secret-123"}).text
    )


def test_reload_swaps_the_plan_and_keeps_it_on_a_bad_config(start_gateway: GatewayStarter) -> None:
    gateway = start_gateway(MOCKS)
    client, sdk = gateway.http(), gateway.client()
    before = client.get("/admin/plan").json()
    gateway.source.write_text(MOCKS.replace('"gpt-4o-mini"', '"gpt-4o-mini", "gpt-4.1"'), encoding="utf-8")
    reloaded = client.post("/admin/reload")
    assert reloaded.status_code == 200 and reloaded.json()["ok"] is True
    assert reloaded.json()["fingerprint"] != before["plan"]["fingerprint"]
    answer = sdk.chat.completions.create(model="gpt-4.1", messages=USER_HI)
    assert answer.choices[0].message.content == "alpha says hi"
    assert answer.model == "gpt-4.1"
    gateway.source.write_text(MOCKS.replace("type: mock", "type: mock\n    lateny: 5ms"), encoding="utf-8")
    refused = client.post("/admin/reload")
    assert refused.status_code == 422
    assert refused.json()["ok"] is False
    assert any("lateny" in line for line in refused.json()["diagnostics"])
    kept = client.get("/admin/plan").json()
    assert kept["plan"]["fingerprint"] == reloaded.json()["fingerprint"]
    assert kept["last_reload"]["ok"] is False
    assert sdk.chat.completions.create(model="gpt-4.1", messages=USER_HI).model == "gpt-4.1"


def test_request_id_is_kept_when_sane_and_replaced_otherwise(start_gateway: GatewayStarter) -> None:
    client = start_gateway(MOCKS).http()
    assert client.get("/health", headers={"X-Request-Id": "abc-123"}).headers["x-request-id"] == "abc-123"
    replaced = client.get("/health", headers={"X-Request-Id": "bad id\twith spaces"}).headers["x-request-id"]
    assert replaced.startswith("req_")
    first, second = client.get("/health").headers["x-request-id"], client.get("/health").headers["x-request-id"]
    assert first != second


def test_provider_header_follows_round_robin(start_gateway: GatewayStarter) -> None:
    gateway = start_gateway(
        """
version: 1
providers:
  - name: left
    type: mock
    models: ["gpt-4o-mini"]
    response: "left"
  - name: right
    type: mock
    models: ["gpt-4o-mini"]
    response: "right"
routing:
  strategy: round_robin
"""
    )
    sdk = gateway.client()
    seen = []
    for _ in range(4):
        raw = sdk.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=USER_HI)
        provider = raw.headers["x-modelmux-provider"]
        assert raw.parse().choices[0].message.content == provider
        seen.append(provider)
    assert sorted(seen) == ["left", "left", "right", "right"]
    assert seen[0] != seen[1] and seen[1] != seen[2]
