"""Chaos: broken upstreams next to a healthy one, seen through the official OpenAI SDK (no SDK retries).

Fake upstreams on 127.0.0.1, one path prefix per provider: one answers 500, one resets every
connection, one is too slow for `attempt_timeout`, one answers 429 with Retry-After, one dies in the
middle of a stream. While a healthy provider exists no request may fail; breakers cut a dead provider
down to one probe per cooldown; a 400 is answered after one upstream call; 401/403 move on; a stream
that already reached the client is never replayed elsewhere. Active health checks run inside the
server. Cooldowns and timeouts are short so the whole file takes seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest

from tests.e2e.conftest import (
    USER_HI,
    Gateway,
    GatewayFor,
    assert_error_response,
    assert_modelmux_headers,
    stream_raw,
)
from tests.fakes import FakeServer, Reply
from tests.fakes import openai_like as oa


def openai_provider(name: str, breaker: str = "{failures: 2, window: 30s, cooldown: 1s}") -> str:
    return f"""
  - name: {name}
    type: openai
    api_key: ${{TEST_API_KEY}}
    base_url: ${{UPSTREAM_URL}}/{name}/v1
    models: ["gpt-4o"]
    timeout: 5s
    circuit_breaker: {breaker}"""


CHAOS = (
    "version: 1\nproviders:"
    + "".join(openai_provider(name) for name in ("p500", "reset", "limited", "dies", "ok", "okstream"))
    + openai_provider("slow", "{failures: 2, window: 30s, cooldown: 3s}")
    + """
routing:
  strategy: round_robin
  rules:
    - if: stream == true
      name: streams
      providers: [p500, reset, slow, limited, dies, okstream]
    - if: stream == false
      name: plain
      providers: [p500, reset, slow, limited, ok]
  fallback:
    enabled: true
    max_retries: 9
    backoff: constant
    initial_delay: 5ms
    attempt_timeout: 600ms
"""
)


def path(name: str) -> str:
    return f"/{name}/v1/chat/completions"


def calls(upstream: FakeServer, name: str) -> int:
    return len(upstream.requests_to(path(name)))


def script_chaos(upstream: FakeServer) -> None:
    upstream.script("POST", path("p500"), Reply.json(oa.error_body("boom", "server_error"), status=500))
    upstream.script("POST", path("reset"), Reply.reset())
    upstream.script("POST", path("slow"), Reply.json(oa.chat_completion("too late"), delay=4.0))
    body, headers = oa.rate_limit_error(retry_after="1")
    upstream.script("POST", path("limited"), Reply.json(body, status=429, headers=headers))
    upstream.script("POST", path("dies"), Reply.sse([b": opening\n\n", 0.01], end="reset"))  # no chunk at all
    upstream.script("POST", path("ok"), Reply.json(oa.chat_completion("fine")))
    upstream.script("POST", path("okstream"), Reply.sse([oa.sse_body(oa.text_chunks(("all", " fine")))]))


def streamed_text(sdk: openai.OpenAI) -> str:
    stream = sdk.chat.completions.create(model="gpt-4o", messages=USER_HI, stream=True)
    return "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)


def test_no_client_sees_a_failure_while_a_healthy_provider_exists(
    gateway_for: GatewayFor, upstream: FakeServer
) -> None:
    script_chaos(upstream)
    gateway = gateway_for(upstream, CHAOS)
    sdk = gateway.client()
    started = time.monotonic()
    for number in range(200):
        if number % 4 == 3:
            assert streamed_text(sdk) == "all fine"
        else:
            raw = sdk.chat.completions.with_raw_response.create(model="gpt-4o", messages=USER_HI)
            assert raw.parse().choices[0].message.content == "fine"
            assert_modelmux_headers(raw.headers, provider="ok")
    elapsed = time.monotonic() - started
    assert calls(upstream, "ok") == 150 and calls(upstream, "okstream") == 50
    for name in ("p500", "reset", "dies"):  # 2 failures open the breaker, then one probe per 1s cooldown
        assert 1 <= calls(upstream, name) <= 2 + int(elapsed / 1.0) + 1, name
    assert 1 <= calls(upstream, "slow") <= 2 + int(elapsed / 3.0) + 1
    assert 1 <= calls(upstream, "limited") <= int(elapsed / 1.0) + 2  # skipped while Retry-After runs


def test_the_breaker_cuts_a_dead_provider_to_one_probe_per_cooldown(
    gateway_for: GatewayFor, upstream: FakeServer
) -> None:
    config = (
        "version: 1\nproviders:"
        + openai_provider("dead", "{failures: 3, window: 30s, cooldown: 500ms}")
        + openai_provider("ok")
        + "\nrouting:\n  fallback: {max_retries: 2, backoff: constant, initial_delay: 5ms}\n"
    )
    upstream.script("POST", path("dead"), Reply.json(oa.error_body("down", "server_error"), status=503))
    upstream.script("POST", path("ok"), Reply.json(oa.chat_completion("fine")))
    gateway = gateway_for(upstream, config)
    sdk = gateway.client()
    for _ in range(3):
        sdk.chat.completions.create(model="gpt-4o", messages=USER_HI)
    assert calls(upstream, "dead") == 3
    opened = time.monotonic()
    sent = 0
    while time.monotonic() - opened < 1.6 and sent < 2000:
        assert sdk.chat.completions.create(model="gpt-4o", messages=USER_HI).choices[0].message.content == "fine"
        sent += 1
    probes = calls(upstream, "dead") - 3
    cooldowns = (time.monotonic() - opened) / 0.5
    assert probes <= int(cooldowns) + 1, (probes, cooldowns)
    assert probes < sent / 5, f"{probes} probes for {sent} requests is not a trickle"
    state = {p["name"]: p for p in gateway.http().get("/admin/providers").json()["providers"]}
    assert state["dead"]["breaker"] in ("open", "half_open")
    assert state["dead"]["outcomes"]["status_5xx"] == calls(upstream, "dead")


def serve_two(gateway_for: GatewayFor, upstream: FakeServer, first: Reply, second: Reply | None = None) -> Gateway:
    config = (
        "version: 1\nproviders:"
        + "".join(openai_provider(name) for name in ("first", "second", "third"))
        + "\nrouting:\n  fallback: {max_retries: 4, backoff: constant, initial_delay: 5ms}\n"
    )
    upstream.script("POST", path("first"), first)
    upstream.script("POST", path("second"), second or Reply.json(oa.chat_completion("from second")))
    upstream.script("POST", path("third"), Reply.json(oa.chat_completion("from third")))
    return gateway_for(upstream, config)


def total_calls(upstream: FakeServer) -> int:
    return sum(calls(upstream, name) for name in ("first", "second", "third"))


def test_a_400_reaches_the_client_after_exactly_one_upstream_call(
    gateway_for: GatewayFor, upstream: FakeServer
) -> None:
    gateway = serve_two(gateway_for, upstream, Reply.json(oa.error_body("bad 'messages'", param="messages"), 400))
    with pytest.raises(openai.BadRequestError) as caught:
        gateway.client().chat.completions.create(model="gpt-4o", messages=USER_HI)
    assert caught.value.param == "messages"
    assert_error_response(caught.value.response, 400)
    assert_modelmux_headers(caught.value.response.headers, provider="first", attempts=1)
    assert total_calls(upstream) == 1


def test_401_and_403_move_on_to_another_provider(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    gateway = serve_two(
        gateway_for,
        upstream,
        Reply.json(oa.error_body("Incorrect API key provided", code="invalid_api_key"), 401),
        Reply.json(oa.error_body("Project does not have access", "permission_error"), 403),
    )
    sdk = gateway.client()
    for expected in (3, 6):
        raw = sdk.chat.completions.with_raw_response.create(model="gpt-4o", messages=USER_HI)
        assert raw.parse().choices[0].message.content == "from third"
        assert_modelmux_headers(raw.headers, provider="third", attempts=3)
        assert total_calls(upstream) == expected  # each provider once per request, never retried
    assert (calls(upstream, "first"), calls(upstream, "second")) == (2, 2)


def test_a_429_with_retry_after_is_skipped_until_it_passes_and_explain_says_so(
    gateway_for: GatewayFor, upstream: FakeServer
) -> None:
    body, headers = oa.rate_limit_error(retry_after="30")
    gateway = serve_two(gateway_for, upstream, Reply.json(body, status=429, headers=headers))
    sdk = gateway.client()
    for _ in range(5):
        assert sdk.chat.completions.create(model="gpt-4o", messages=USER_HI).choices[0].message.content == (
            "from second"
        )
    assert calls(upstream, "first") == 1
    explained = gateway.http().get("/admin/explain", params={"model": "gpt-4o"}).json()
    assert [c["name"] for c in explained["candidates"]] == ["second", "third"]
    first = next(item for item in explained["excluded"] if item["name"] == "first")
    assert first["reason"] == "rate limited"
    assert first["detail"].startswith("rate limited upstream (Retry-After)")


def test_a_stream_that_dies_before_its_first_chunk_falls_back(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    gateway = serve_two(
        gateway_for,
        upstream,
        Reply.sse([b": opening\n\n", 0.01], end="reset"),
        Reply.sse([oa.sse_body(oa.text_chunks(("from", " second")))]),
    )
    assert streamed_text(gateway.client()) == "from second"
    raw = stream_raw(gateway, {"model": "gpt-4o", "messages": USER_HI})
    assert raw.done and not raw.errors and raw.text() == "from second"
    assert (calls(upstream, "first"), calls(upstream, "second")) == (2, 2)


def test_a_stream_that_dies_after_its_first_chunk_ends_with_an_error_event(
    gateway_for: GatewayFor, upstream: FakeServer
) -> None:
    head = oa.sse_body(oa.text_chunks(("Half", " way"))[:3], done=False)
    gateway = serve_two(gateway_for, upstream, Reply.sse([head, 0.05], end="reset"))
    raw = stream_raw(gateway, {"model": "gpt-4o", "messages": USER_HI})
    assert raw.status == 200 and raw.text() == "Half way"
    assert not raw.done, "a broken stream must not end with [DONE]"
    assert raw.events[-1][0] == "error" and raw.errors[0]["error"]["code"] == "upstream_stream_error"
    received: list[str] = []
    with pytest.raises(openai.APIError):
        for chunk in gateway.client().chat.completions.create(model="gpt-4o", messages=USER_HI, stream=True):
            received.extend(choice.delta.content or "" for choice in chunk.choices)
    assert "".join(received) == "Half way"
    assert calls(upstream, "second") == 0, "a stream that began must not be replayed on another provider"


def wait_until(condition: Callable[[], bool], bound: float = 10.0) -> None:
    """Poll until `condition` holds (a bound on waiting, not a timing assertion)."""
    deadline = time.monotonic() + bound
    while not condition():
        assert time.monotonic() < deadline, "the condition did not hold in time"
        time.sleep(0.02)


HEALTH = """
version: 1
providers:
  - name: sick
    type: openai
    api_key: ${TEST_API_KEY}
    base_url: ${UPSTREAM_URL}/sick/v1
    models: ["gpt-4o"]
    health_check: {interval: 100ms, timeout: 1s}
  - name: ok
    type: openai
    api_key: ${TEST_API_KEY}
    base_url: ${UPSTREAM_URL}/ok/v1
    models: ["gpt-4o"]
"""


def providers(gateway: Gateway) -> dict[str, Any]:
    return {p["name"]: p for p in gateway.http().get("/admin/providers").json()["providers"]}


def test_active_health_checks_steer_traffic_inside_the_server(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    upstream.script("GET", "/sick/v1/models", Reply.json(oa.error_body("down", "server_error"), status=503))
    upstream.script("POST", path("sick"), Reply.json(oa.chat_completion("from sick")))
    upstream.script("POST", path("ok"), Reply.json(oa.chat_completion("from ok")))
    gateway = gateway_for(upstream, HEALTH)
    wait_until(lambda: providers(gateway)["sick"]["healthy"] is False)
    assert (
        upstream.requests_to("/sick/v1/models")[0].header("authorization") == "Bearer sk-test-modelmux-e2e-0123456789"
    )
    sdk = gateway.client()
    for _ in range(10):
        assert sdk.chat.completions.create(model="gpt-4o", messages=USER_HI).choices[0].message.content == "from ok"
    assert calls(upstream, "sick") == 0
    ready = gateway.http().get("/health/ready")
    assert ready.status_code == 200 and ready.json()["providers_available"] == 1
    explained = gateway.http().get("/admin/explain", params={"model": "gpt-4o"}).json()
    sick = next(item for item in explained["excluded"] if item["name"] == "sick")
    assert sick == {
        "name": "sick",
        "reason": "health check failed",
        "detail": "health check failed: GET /sick/v1/models answered 503",
    }
    upstream.script("GET", "/sick/v1/models", Reply.json(oa.models_list(["gpt-4o"])))
    wait_until(lambda: providers(gateway)["sick"]["healthy"] is True)
    assert sdk.chat.completions.create(model="gpt-4o", messages=USER_HI).choices[0].message.content == "from sick"


def test_readiness_fails_and_requests_fail_fast_when_every_check_fails(
    gateway_for: GatewayFor, upstream: FakeServer
) -> None:
    only_sick = HEALTH.split("  - name: ok")[0]
    upstream.script("GET", "/sick/v1/models", Reply.reset())
    gateway = gateway_for(upstream, only_sick)
    client: httpx.Client = gateway.http()
    wait_until(lambda: client.get("/health/ready").status_code == 503)
    with pytest.raises(openai.InternalServerError) as caught:
        gateway.client().chat.completions.create(model="gpt-4o", messages=USER_HI)
    assert_error_response(caught.value.response, 503, code="no_available_provider")
    assert "health check failed" in caught.value.message
    assert calls(upstream, "sick") == 0
