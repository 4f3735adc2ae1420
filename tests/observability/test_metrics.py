"""`GET /metrics` after known traffic: exact counts for successes, a 404, a retry, a fallback and a stream."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from modelmux.routing import estimate_cost, lookup_price
from tests.e2e.conftest import USER_HI, GatewayFor, GatewayStarter, stream_raw
from tests.fakes import FakeServer, Reply
from tests.fakes import openai_like as oa
from tests.observability.conftest import Samples, scrape, total, value

CONFIG = """
version: 1
providers:
  - name: first
    type: openai
    api_key: ${TEST_API_KEY}
    base_url: ${UPSTREAM_URL}/a/v1
    models: ["gpt-4o"]
  - name: second
    type: openai
    api_key: ${TEST_API_KEY}
    base_url: ${UPSTREAM_URL}/b/v1
    models: ["gpt-4o"]
  - name: solo
    type: openai
    api_key: ${TEST_API_KEY}
    base_url: ${UPSTREAM_URL}/c/v1
    models: ["gpt-4o-mini"]
routing:
  rules:
    - name: mini
      if: model == "gpt-4o-mini"
      provider: solo
  fallback:
    enabled: true
    max_retries: 2
    backoff: constant
    initial_delay: 10ms
"""
FIRST, SECOND, SOLO = "/a/v1/chat/completions", "/b/v1/chat/completions", "/c/v1/chat/completions"
OVERLOADED = Reply.json(oa.error_body("overloaded", "server_error"), status=503)


def ok() -> Reply:
    return Reply.json(oa.chat_completion("hi", usage_=oa.usage(19, 10)))


def streamed() -> Reply:
    return Reply.sse([oa.sse_body(oa.text_chunks(("a", "b"), include_usage=True, usage_=oa.usage(7, 3)))])


@pytest.fixture
def samples(gateway_for: GatewayFor, upstream: FakeServer) -> Samples:
    """Two successes, a fallback (first 503, second 200), a retry (solo 503 then 200), a 404 and a stream."""
    upstream.script("POST", FIRST, ok(), ok(), OVERLOADED, streamed())
    upstream.script("POST", SECOND, ok())
    upstream.script("POST", SOLO, OVERLOADED, ok())
    gateway = gateway_for(upstream, CONFIG)
    http = gateway.http()
    for model in ("gpt-4o", "gpt-4o", "gpt-4o", "gpt-4o-mini"):
        response = http.post("/v1/chat/completions", json={"model": model, "messages": USER_HI})
        assert response.status_code == 200, response.text
        assert float(response.headers["x-modelmux-overhead-ms"]) >= 0
    missing = http.post("/v1/chat/completions", json={"model": "no-such-model", "messages": USER_HI})
    assert missing.status_code == 404
    assert "x-modelmux-overhead-ms" in missing.headers
    raw = stream_raw(gateway, {"model": "gpt-4o", "messages": USER_HI})
    assert raw.done and raw.text() == "ab"
    assert float(raw.headers["x-modelmux-overhead-ms"]) >= 0
    return scrape(gateway.url)


def test_requests_are_counted_by_route_provider_model_and_status(samples: Samples) -> None:
    name = "modelmux_requests_total"
    assert value(samples, name, route="default", provider="first", model="gpt-4o", status="200") == 3
    assert value(samples, name, route="default", provider="second", model="gpt-4o", status="200") == 1
    assert value(samples, name, route="mini", provider="solo", model="gpt-4o-mini", status="200") == 1
    assert value(samples, name, route="none", provider="none", model="other", status="404") == 1
    assert total(samples, name) == 6
    assert total(samples, "modelmux_request_duration_seconds_count") == 6
    assert value(samples, "modelmux_request_duration_seconds_count", provider="first", model="gpt-4o", stream="true")
    assert value(samples, "modelmux_overhead_seconds_count", stream="false") == 5
    assert value(samples, "modelmux_overhead_seconds_count", stream="true") == 1


def test_retries_fallbacks_and_upstream_attempts(samples: Samples) -> None:
    assert value(samples, "modelmux_retries_total", provider="second") == 1
    assert value(samples, "modelmux_retries_total", provider="solo") == 1
    assert total(samples, "modelmux_retries_total") == 2
    assert value(samples, "modelmux_fallbacks_total", from_provider="first", to_provider="second") == 1
    assert total(samples, "modelmux_fallbacks_total") == 1
    upstream = "modelmux_upstream_duration_seconds_count"
    assert value(samples, upstream, provider="first", status_class="2xx") == 3
    assert value(samples, upstream, provider="first", status_class="5xx") == 1
    assert value(samples, upstream, provider="second", status_class="2xx") == 1
    assert value(samples, upstream, provider="solo", status_class="5xx") == 1
    assert value(samples, upstream, provider="solo", status_class="2xx") == 1


def test_tokens_cost_and_time_to_first_token(samples: Samples) -> None:
    tokens = "modelmux_tokens_total"
    assert value(samples, tokens, direction="input", provider="first", model="gpt-4o") == 19 * 2 + 7
    assert value(samples, tokens, direction="output", provider="first", model="gpt-4o") == 10 * 2 + 3
    assert value(samples, tokens, direction="input", provider="solo", model="gpt-4o-mini") == 19
    assert value(samples, "modelmux_time_to_first_token_seconds_count", provider="first", model="gpt-4o") == 1
    price = lookup_price("gpt-4o")
    expected = 2 * estimate_cost(price, 19, 10) + estimate_cost(price, 7, 3)
    assert expected > Decimal(0)
    assert value(samples, "modelmux_cost_usd_total", provider="first", model="gpt-4o") == pytest.approx(
        float(expected), rel=1e-6
    )


def test_live_state_and_pre_declared_series(samples: Samples) -> None:
    for provider in ("first", "second", "solo"):
        assert value(samples, "modelmux_circuit_state", provider=provider) == 0
    plans = [labels for (name, labels), v in samples.items() if name == "modelmux_plan_info" and v == 1]
    assert len(plans) == 1 and dict(plans[0])["generation"] == "1"
    for result in ("ok", "failed", "unchanged"):
        assert value(samples, "modelmux_config_reloads_total", result=result) == 0
    assert total(samples, "modelmux_ratelimit_rejections_total") == 0
    assert total(samples, "modelmux_cache_requests_total") == 0


OPEN_CIRCUIT = """
version: 1
providers:
  - name: broken
    type: mock
    models: ["gpt-4o-mini"]
    failure_rate: 1.0
    failure_status: 503
    circuit_breaker: {failures: 1, window: 1m, cooldown: 5m}
  - name: fine
    type: mock
    models: ["other-model"]
"""


def test_circuit_state_is_read_at_scrape_time(start_gateway: GatewayStarter) -> None:
    gateway = start_gateway(OPEN_CIRCUIT)
    http = gateway.http()
    assert http.post("/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": USER_HI}).status_code == 503
    samples = scrape(gateway.url)
    assert value(samples, "modelmux_circuit_state", provider="broken") == 2
    assert value(samples, "modelmux_circuit_state", provider="fine") == 0
    refused = http.post("/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": USER_HI})
    assert refused.status_code == 503
    samples = scrape(gateway.url)
    assert (
        value(samples, "modelmux_requests_total", route="default", provider="broken", model="gpt-4o-mini", status="503")
        == 1
    )
    assert (
        value(samples, "modelmux_requests_total", route="default", provider="none", model="gpt-4o-mini", status="503")
        == 1
    )


LIMITED = """
version: 1
providers:
  - name: slow
    type: mock
    models: ["gpt-4o-mini"]
    rate_limit: {rpm: 1}
"""


def test_a_429_modelmux_answers_itself_is_a_ratelimit_rejection(start_gateway: GatewayStarter) -> None:
    gateway = start_gateway(LIMITED)
    http = gateway.http()
    assert http.post("/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": USER_HI}).status_code == 200
    limited = http.post("/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": USER_HI})
    assert limited.status_code == 429
    samples = scrape(gateway.url)
    assert value(samples, "modelmux_ratelimit_rejections_total", reason="rate_limit") == 1
    assert (
        value(samples, "modelmux_requests_total", route="default", provider="none", model="gpt-4o-mini", status="429")
        == 1
    )


def test_reloads_are_counted_and_the_plan_info_follows(start_gateway: GatewayStarter) -> None:
    gateway = start_gateway(LIMITED)
    http = gateway.http()
    assert http.post("/admin/reload").json()["ok"]
    gateway.source.write_text(LIMITED.replace("rpm: 1", "rpm: 5"), encoding="utf-8")
    assert http.post("/admin/reload").json()["ok"]
    gateway.source.write_text("version: 1\nproviders: [", encoding="utf-8")
    assert http.post("/admin/reload").status_code == 422
    samples = scrape(gateway.url)
    assert value(samples, "modelmux_config_reloads_total", result="unchanged") == 1
    assert value(samples, "modelmux_config_reloads_total", result="ok") == 1
    assert value(samples, "modelmux_config_reloads_total", result="failed") == 1
    plans = {dict(labels)["generation"]: v for (name, labels), v in samples.items() if name == "modelmux_plan_info"}
    assert plans == {"2": 1.0}


WILDCARD = """
version: 1
providers:
  - name: slow
    type: mock
    models: ["*"]
"""


def test_labels_never_carry_what_the_client_chose(start_gateway: GatewayStarter) -> None:
    gateway = start_gateway(WILDCARD)
    http = gateway.http()
    chosen = "secret-model-name-from-a-client"
    assert http.post("/v1/chat/completions", json={"model": chosen, "messages": USER_HI}).status_code == 200
    text = httpx.get(gateway.url + "/metrics", trust_env=False).text
    assert chosen not in text
    samples = scrape(gateway.url)
    assert value(samples, "modelmux_requests_total", route="default", provider="slow", model="other", status="200") == 1


def test_metrics_can_be_turned_off(start_gateway: GatewayStarter) -> None:
    gateway = start_gateway(LIMITED + "observability:\n  metrics: {enabled: false}\n")
    response = gateway.http().get("/metrics")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "metrics_disabled"


def test_malformed_and_invalid_requests_are_counted_too(start_gateway: GatewayStarter) -> None:
    """Requests refused before routing (bad JSON, a schema error) still reach the observability policy."""
    gateway = start_gateway(LIMITED)
    http = gateway.http()
    broken = http.post("/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"})
    assert broken.status_code == 400
    assert "X-ModelMux-Overhead-Ms" in broken.headers
    invalid = http.post("/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": []})
    assert invalid.status_code == 400
    assert invalid.json()["error"]["param"] == "messages"
    samples = scrape(gateway.url)
    assert total(samples, "modelmux_requests_total", status="400") == 2
