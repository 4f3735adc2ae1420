"""Connection pools to upstreams (runtime/clients.py): one per provider, bounded by `max_connections`,
connections kept alive between requests, HTTP/2 when `http2: true`."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from modelmux.plan.models import ProviderPlan
from modelmux.runtime import clients as clients_module
from modelmux.runtime.clients import KEEPALIVE_EXPIRY, UpstreamClients, http2_available
from modelmux.runtime.upstream.aiohttp_sender import AiohttpSender
from modelmux.runtime.upstream.httpx_sender import HttpxSender
from tests.e2e.conftest import USER_HI, GatewayFor, compile_yaml
from tests.fakes import FakeServer, Reply
from tests.fakes import openai_like as oa

CHAT = "/v1/chat/completions"
CONFIG = """
version: 1
providers:
  - name: pooled
    type: openai
    api_key: ${TEST_API_KEY}
    base_url: ${UPSTREAM_URL}/v1
    models: [gpt-4o]
    max_connections: 2
"""
BODY = {"model": "gpt-4o", "messages": USER_HI}


def test_sequential_requests_reuse_one_kept_alive_connection(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    upstream.script("POST", CHAT, Reply.json(oa.chat_completion()))
    gateway = gateway_for(upstream, CONFIG)
    http = gateway.http()
    for _ in range(3):
        assert http.post(CHAT, json=BODY).status_code == 200
    assert len({request.connection for request in upstream.requests_to(CHAT)}) == 1


async def test_concurrent_requests_share_at_most_max_connections(gateway_for: GatewayFor, upstream: FakeServer) -> None:
    upstream.script("POST", CHAT, Reply.json(oa.chat_completion(), delay=0.2))
    gateway = gateway_for(upstream, CONFIG)
    async with gateway.async_client() as sdk:
        answers = await asyncio.gather(*(sdk.chat.completions.create(**BODY) for _ in range(6)))  # type: ignore[call-overload]
    assert len(answers) == 6
    connections = {request.connection for request in upstream.requests_to(CHAT)}
    assert 1 <= len(connections) <= 2


def provider_with(tmp_path: Path, options: str) -> ProviderPlan:
    text = CONFIG.replace("max_connections: 2", options)
    plan, _ = compile_yaml(tmp_path / "modelmux.yaml", text, {"TEST_API_KEY": "sk-x", "UPSTREAM_URL": "https://x"})
    return plan.provider_index["pooled"]


async def test_http2_and_pool_limits_reach_the_client(tmp_path: Path) -> None:
    assert http2_available(), "the h2 package is a dependency (HTTP/2 to upstreams)"
    pools = UpstreamClients()
    try:
        sender = pools.get(provider_with(tmp_path, "http2: true\n    max_connections: 7"))
        assert isinstance(sender, HttpxSender)  # HTTP/2 goes through httpx
        pool = sender._client._transport._pool  # type: ignore[attr-defined]
        assert (pool._http2, pool._max_connections, pool._keepalive_expiry) == (True, 7, KEEPALIVE_EXPIRY)
        assert pools.get(provider_with(tmp_path, "http2: true\n    max_connections: 7")) is sender
        plain = pools.get(provider_with(tmp_path, "max_connections: 7"))
        assert isinstance(plain, AiohttpSender) and plain._limit == 7  # HTTP/1.1 goes through aiohttp
    finally:
        await pools.aclose()


async def test_http2_without_h2_falls_back_to_http1_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(clients_module, "http2_available", lambda: False)
    pools = UpstreamClients()
    try:
        with caplog.at_level(logging.WARNING, logger="modelmux.clients"):
            sender = pools.get(provider_with(tmp_path, "http2: true"))
        assert isinstance(sender, AiohttpSender)  # HTTP/1.1
        assert "h2 package is not installed" in caplog.text
    finally:
        await pools.aclose()
