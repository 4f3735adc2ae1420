"""Pooled upstream senders, one per upstream setting, reused across plan swaps and closed at shutdown.

Each provider has its own pool: at most `max_connections` connections (all of them kept alive for
60s between requests). HTTP/1.1 upstreams are sent to with aiohttp (`AiohttpSender`: several times
less CPU per request than httpx's own transport, see benchmarks/README.md); the built-in mock provider
and upstreams with `http2: true` (when the `h2` package is installed; over TLS, by ALPN) go through
httpx (`HttpxSender`).
"""

from __future__ import annotations

import importlib.util
import logging

import httpx

from modelmux.observability.propagation import upstream_request_hook
from modelmux.plan.models import ProviderPlan
from modelmux.providers.mock import mock_transport_for
from modelmux.runtime.upstream import Sender
from modelmux.runtime.upstream.aiohttp_sender import AiohttpSender
from modelmux.runtime.upstream.httpx_sender import HttpxSender

log = logging.getLogger("modelmux.clients")
ClientKey = tuple[str, str, str, float, float, bool, int]
KEEPALIVE_EXPIRY = 60.0


def http2_available() -> bool:
    return importlib.util.find_spec("h2") is not None


class UpstreamClients:
    def __init__(self) -> None:
        self._clients: dict[ClientKey, Sender] = {}

    def get(self, provider: ProviderPlan) -> Sender:
        http2 = bool(provider.options.get("http2", False))
        limit = int(provider.options.get("max_connections", 100))
        key: ClientKey = (
            provider.name,
            provider.type,
            provider.base_url,
            provider.timeout,
            provider.connect_timeout,
            http2,
            limit,
        )
        client = self._clients.get(key)
        if client is None:
            client = self._create(provider, http2, limit)
            self._clients[key] = client
        return client

    def _create(self, provider: ProviderPlan, http2: bool, limit: int) -> Sender:
        timeout = httpx.Timeout(provider.timeout, connect=provider.connect_timeout)
        limits = httpx.Limits(max_connections=limit, max_keepalive_connections=limit, keepalive_expiry=KEEPALIVE_EXPIRY)
        hook = upstream_request_hook(provider.name)  # traceparent, when tracing is on
        hooks = {"request": [hook]}
        if provider.type == "mock":
            return HttpxSender(
                httpx.AsyncClient(transport=mock_transport_for(provider), timeout=timeout, event_hooks=hooks)
            )
        if http2 and not http2_available():
            log.warning("provider %s asks for http2 but the h2 package is not installed; using HTTP/1.1", provider.name)
            http2 = False
        if http2:
            client = httpx.AsyncClient(timeout=timeout, limits=limits, http2=True, trust_env=False, event_hooks=hooks)
            return HttpxSender(client)
        return AiohttpSender(
            timeout=provider.timeout, connect_timeout=provider.connect_timeout, max_connections=limit, on_request=hook
        )

    def prune(self, providers: tuple[ProviderPlan, ...]) -> list[Sender]:
        """Forget senders that none of `providers` uses (the live plan's and the previous one's, whose
        requests may still be running); returns them for closing."""
        live = {(p.name, p.type, p.base_url) for p in providers}
        stale = [key for key in self._clients if key[:3] not in live]
        return [self._clients.pop(key) for key in stale]

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()
