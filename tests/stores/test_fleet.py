"""Two ModelMux gateways on one Redis behave as one fleet: limits, breakers and the cache are shared.

Each gateway is a whole server (its own Services, event loop and port) in this test process; the
subprocess test at the end runs two `modelmux serve` processes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx

from modelmux.routing import BreakerState
from tests.e2e.conftest import TEST_API_KEY, USER_HI, Gateway, GatewayFor, ServeCli
from tests.fakes import FakeServer, Reply
from tests.fakes import openai_like as oa
from tests.stores.redis_server import start_redis

CHAT = "/v1/chat/completions"
SETTLE_BOUND = 15.0  # how long a gateway may take to see the other in Redis (a bound, not an expectation)
PROVIDER = """
version: 1
providers:
  - name: openai-main
    type: openai
    api_key: ${TEST_API_KEY}
    base_url: ${UPSTREAM_URL}/v1
    models: [gpt-4o]
    rate_limit: {rpm: 4}
    circuit_breaker: {failures: 2, window: 60s, cooldown: 60s}
redis:
  url: ${REDIS_URL}
  sync_interval: 500ms
"""
CACHED = (
    PROVIDER
    + """
caching:
  backend: redis
  ttl: 300s
"""
)
BODY = {"model": "gpt-4o", "messages": USER_HI, "temperature": 0}


def eventually(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + SETTLE_BOUND
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {SETTLE_BOUND}s: {what}")
        time.sleep(0.02)


def fleet(gateway_for: GatewayFor, upstream: FakeServer, config: str, redis_url: str) -> tuple[Gateway, Gateway]:
    one = gateway_for(upstream, config, {"REDIS_URL": redis_url})
    two = gateway_for(upstream, config, {"REDIS_URL": redis_url})
    for gateway in (one, two):
        eventually(lambda g=gateway: len(g.services.sharing.replicas) == 2, "both replicas see each other")
    return one, two


def test_an_entry_cached_by_one_replica_is_a_hit_on_the_other(
    gateway_for: GatewayFor, upstream: FakeServer, redis_url: str
) -> None:
    upstream.script("POST", CHAT, Reply.json(oa.chat_completion("Shared hello.")))
    one, two = fleet(gateway_for, upstream, CACHED, redis_url)
    first = one.client().chat.completions.with_raw_response.create(**BODY)  # type: ignore[call-overload]
    second = two.client().chat.completions.with_raw_response.create(**BODY)  # type: ignore[call-overload]
    assert (first.headers["x-modelmux-cache"], second.headers["x-modelmux-cache"]) == ("MISS", "HIT")
    assert second.parse().choices[0].message.content == "Shared hello."
    assert len(upstream.requests_to(CHAT)) == 1


def test_an_outbound_rate_limit_holds_across_both_replicas(
    gateway_for: GatewayFor, upstream: FakeServer, redis_url: str
) -> None:
    upstream.script("POST", CHAT, Reply.json(oa.chat_completion()))
    one, two = fleet(gateway_for, upstream, PROVIDER, redis_url)
    clients = [one.http(), two.http()]
    statuses = [clients[i % 2].post(CHAT, json={**BODY, "temperature": 0.5}).status_code for i in range(8)]
    assert sorted(statuses) == [200] * 4 + [429] * 4
    assert len(upstream.requests_to(CHAT)) == 4


def test_a_tenant_rate_limit_holds_across_both_replicas(
    gateway_for: GatewayFor, upstream: FakeServer, redis_url: str
) -> None:
    config = (
        PROVIDER.replace("rate_limit: {rpm: 4}", "rate_limit: {rpm: 100}")
        + f"""
auth:
  api_keys:
    - name: team-a
      key: {TEST_API_KEY}
      rate_limit: {{rpm: 3}}
"""
    )
    upstream.script("POST", CHAT, Reply.json(oa.chat_completion()))
    one, two = fleet(gateway_for, upstream, config, redis_url)
    clients = [one.http(), two.http()]
    headers = {"authorization": f"Bearer {TEST_API_KEY}"}
    statuses = [clients[i % 2].post(CHAT, json=BODY, headers=headers).status_code for i in range(6)]
    assert sorted(statuses) == [200] * 3 + [429] * 3
    assert len(upstream.requests_to(CHAT)) == 3


def test_a_breaker_opened_by_one_replica_is_open_on_the_other(
    gateway_for: GatewayFor, upstream: FakeServer, redis_url: str
) -> None:
    upstream.script("POST", CHAT, Reply.json(oa.error_body("The server had an error", "server_error"), status=500))
    one, two = fleet(gateway_for, upstream, PROVIDER, redis_url)
    for _ in range(2):
        assert one.http().post(CHAT, json=BODY).status_code == 500
    provider = two.plan.provider_index["openai-main"]
    other = two.services.state.provider(provider)
    eventually(lambda: other.breaker_state() is BreakerState.OPEN, "the other replica's breaker opens")
    refused = two.http().post(CHAT, json=BODY)
    assert refused.status_code == 503, refused.text
    assert "circuit open" in refused.json()["error"]["message"]
    assert len(upstream.requests_to(CHAT)) == 2


def test_requests_succeed_uncached_while_redis_is_down(
    gateway_for: GatewayFor, upstream: FakeServer, tmp_path: Path
) -> None:
    server = start_redis(tmp_path / "redis")
    try:
        answers = [Reply.json(oa.chat_completion()) for _ in range(4)]
        upstream.script("POST", CHAT, *answers, Reply.sse([oa.sse_body(oa.text_chunks())]))
        config = CACHED.replace("rpm: 4", "rpm: 100").replace(
            "sync_interval: 500ms", "sync_interval: 500ms\n  timeout: 200ms\n  connect_timeout: 200ms"
        )
        gateway = gateway_for(upstream, config, {"REDIS_URL": server.url})
        http = gateway.http()
        assert [http.post(CHAT, json=BODY).headers["x-modelmux-cache"] for _ in range(2)] == ["MISS", "HIT"]
        server.kill()
        for _ in range(3):
            response = http.post(CHAT, json=BODY)
            assert response.status_code == 200, response.text
            assert response.headers["x-modelmux-cache"] == "MISS"
        streamed = http.post(CHAT, json={**BODY, "stream": True})
        assert streamed.status_code == 200 and streamed.text.endswith("data: [DONE]\n\n")
        assert len(upstream.requests_to(CHAT)) == 5
        assert gateway.services.store.health.down  # type: ignore[attr-defined]
    finally:
        server.kill()


def test_two_serve_processes_share_the_cache(
    serve_cli: ServeCli, upstream: FakeServer, redis_url: str, tmp_path: Path
) -> None:
    upstream.script("POST", CHAT, Reply.json(oa.chat_completion("From the fleet.")))
    config = tmp_path / "fleet.yaml"
    text = CACHED.replace("${UPSTREAM_URL}", upstream.url).replace("${REDIS_URL}", redis_url)
    config.write_text(text.replace("${TEST_API_KEY}", TEST_API_KEY), encoding="utf-8")
    one, two = serve_cli(str(config), "--no-watch"), serve_cli(str(config), "--no-watch")
    with httpx.Client(timeout=30.0, trust_env=False) as client:
        first = client.post(one.url + CHAT, json=BODY)
        second = client.post(two.url + CHAT, json=BODY)
    assert (first.status_code, second.status_code) == (200, 200), second.text
    assert (first.headers["x-modelmux-cache"], second.headers["x-modelmux-cache"]) == ("MISS", "HIT")
    assert second.json()["choices"][0]["message"]["content"] == "From the fleet."
    assert len(upstream.requests_to(CHAT)) == 1
