"""Health and provider state: `/admin/providers` shows every provider's live state, used or not."""

from __future__ import annotations

import os

from tests.e2e.conftest import USER_HI, GatewayStarter

CONFIG = """
version: 1
providers:
  - name: broken
    type: mock
    models: ["gpt-4o-mini"]
    failure_rate: 1.0
    failure_status: 503
    circuit_breaker: {failures: 1, window: 1m, cooldown: 5m}
  - name: idle
    type: mock
    region: eu-west-1
    models: ["other-model"]
"""


def test_admin_providers_shows_breaker_latency_errors_and_in_flight(start_gateway: GatewayStarter) -> None:
    gateway = start_gateway(CONFIG)
    http = gateway.http()
    assert http.post("/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": USER_HI}).status_code == 503
    body = http.get("/admin/providers").json()
    assert body["worker"] == os.getpid()
    broken, idle = body["providers"]
    assert broken["name"] == "broken" and broken["type"] == "mock" and broken["models"] == ["gpt-4o-mini"]
    assert broken["breaker"] == "open" and broken["circuit_state"] == 2
    assert broken["available"] is False and "circuit open" in broken["unavailable_reason"]
    assert broken["error_rate"] > 0 and broken["in_flight"] == 0
    assert broken["outcomes"] == {"status_5xx": 1}
    assert idle["name"] == "idle" and idle["region"] == "eu-west-1"
    assert idle["breaker"] == "closed" and idle["circuit_state"] == 0 and idle["available"] is True
    assert idle["latency_ewma"] is None and idle["error_rate"] == 0 and idle["in_flight"] == 0


def test_readiness_follows_the_providers(start_gateway: GatewayStarter) -> None:
    gateway = start_gateway(CONFIG)
    http = gateway.http()
    assert http.get("/health/ready").status_code == 200
    http.post("/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": USER_HI})
    ready = http.get("/health/ready")
    assert ready.status_code == 200 and ready.json()["providers_available"] == 1
