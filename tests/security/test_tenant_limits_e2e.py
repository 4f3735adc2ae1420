"""Tenant limits against a running gateway: requests per minute, tokens per minute (reserved, then
settled with the real usage) and concurrent requests (released at the end of a response or stream)."""

from __future__ import annotations

import threading

import httpx

from tests.e2e.conftest import Gateway, GatewayFor, assert_error_response
from tests.fakes import FakeServer, Reply
from tests.fakes import openai_like as oa
from tests.security.conftest import ALICE_KEY, BOB_KEY, CHAT, HI, KEYS_ENV, PROVIDERS, bearer, chat


def limited(rate_limit: str, extra: str = "") -> str:
    return (
        PROVIDERS
        + f"""
auth:
  api_keys:
    - name: alice
      key: ${{ALICE_KEY}}
      user: alice
      org: acme
      rate_limit: {rate_limit}
    - name: bob
      key: ${{BOB_KEY}}
      user: bob
      org: acme
"""
        + extra
    )


def completion_using(total: int) -> Reply:
    return Reply.json(oa.chat_completion("ok", usage_=oa.usage(prompt=total - 5, completion=5)))


def assert_rate_limited(response: httpx.Response) -> None:
    assert_error_response(response, 429, code="rate_limit_exceeded")
    assert int(response.headers["retry-after"]) >= 1


def test_requests_per_minute_per_key(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    upstream.script("POST", CHAT, completion_using(20))
    gateway = gateway_for(upstream, limited("{rpm: 2}"), KEYS_ENV)
    client = gateway.http()
    assert chat(client).status_code == 200
    assert chat(client).status_code == 200
    assert_rate_limited(chat(client))
    assert chat(client, key=BOB_KEY).status_code == 200  # another key has its own bucket
    assert len(upstream.requests) == 3


def test_the_default_and_org_limits_apply(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    upstream.script("POST", CHAT, completion_using(20))
    extra = "  default_rate_limit: {rpm: 100}\n  org_rate_limit: {rpm: 3}\n"
    gateway = gateway_for(upstream, limited("{rpm: 100}", extra), KEYS_ENV)
    client = gateway.http()
    for key in (ALICE_KEY, BOB_KEY, ALICE_KEY):
        assert chat(client, key=key).status_code == 200
    assert_rate_limited(chat(client, key=BOB_KEY))  # the org's third request was the last


def test_tokens_per_minute_are_settled_with_the_real_usage(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    upstream.script("POST", CHAT, completion_using(10))
    gateway = gateway_for(upstream, limited("{tpm: 300}"), KEYS_ENV)
    client = gateway.http()
    for _ in range(3):  # each reserves ~207 tokens, uses 10: the unused rest comes back
        assert chat(client, max_tokens=200).status_code == 200


def test_tokens_used_beyond_the_estimate_count(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    upstream.script("POST", CHAT, completion_using(290))
    gateway = gateway_for(upstream, limited("{tpm: 300}"), KEYS_ENV)
    client = gateway.http()
    assert chat(client, max_tokens=100).status_code == 200  # reserved ~107, used 290
    assert_rate_limited(chat(client, max_tokens=100))
    assert len(upstream.requests) == 1


def _background(gateway: Gateway, body: dict[str, object], results: list[int]) -> threading.Thread:
    def run() -> None:
        with httpx.Client(base_url=gateway.url, timeout=30.0, trust_env=False) as client:
            results.append(client.post(CHAT, json=body, headers=bearer(ALICE_KEY)).status_code)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_concurrent_requests_per_key(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    release = 1.0
    upstream.script("POST", CHAT, Reply(**{**_json_reply(), "delay": release}), Reply(**_json_reply()))
    gateway = gateway_for(upstream, limited("{concurrent: 1}"), KEYS_ENV)
    results: list[int] = []
    slow = _background(gateway, {"model": "gpt-4o", "messages": HI}, results)
    upstream.wait_for_requests(1)
    assert_rate_limited(chat(gateway.http()))
    slow.join(timeout=30)
    assert results == [200]
    assert chat(gateway.http()).status_code == 200  # the slot came back with the response


def test_a_streams_slot_is_held_until_it_ends(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    chunks = oa.text_chunks(["one", " two"])
    first, rest = oa.sse_body(chunks[:2], done=False), oa.sse_body(chunks[2:])
    upstream.script("POST", CHAT, Reply.sse([first, 1.0, rest]), Reply.json(oa.chat_completion()))
    gateway = gateway_for(upstream, limited("{concurrent: 1}"), KEYS_ENV)
    client = gateway.http()
    body = {"model": "gpt-4o", "messages": HI, "stream": True}
    with client.stream("POST", CHAT, json=body, headers=bearer(ALICE_KEY)) as stream:
        pieces = stream.iter_bytes()  # kept: a dropped iterator would close the stream
        assert next(pieces).startswith(b"data: ")
        assert_rate_limited(chat(gateway.http()))
        assert b"[DONE]" in b"".join(pieces)
    assert chat(client).status_code == 200


def test_a_refused_request_gives_its_slot_back(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    gateway = gateway_for(upstream, limited("{concurrent: 1}"), KEYS_ENV)
    client = gateway.http()
    for _ in range(3):  # 404 from the executor: the slot must not leak
        assert_error_response(chat(client, model="gpt-unknown"), 404)


def _json_reply() -> dict[str, object]:
    reply = Reply.json(oa.chat_completion())
    return {"status": reply.status, "headers": reply.headers, "body": reply.body}
