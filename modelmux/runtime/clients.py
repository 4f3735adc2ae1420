"""Pooled httpx clients, one per upstream setting, reused across plan swaps and closed at shutdown."""

from __future__ import annotations

import httpx

from modelmux.plan.models import ProviderPlan
from modelmux.providers.mock import mock_transport_for

ClientKey = tuple[str, str, str, float, float, bool, int]


class UpstreamClients:
    def __init__(self) -> None:
        self._clients: dict[ClientKey, httpx.AsyncClient] = {}

    def get(self, provider: ProviderPlan) -> httpx.AsyncClient:
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

    def _create(self, provider: ProviderPlan, http2: bool, limit: int) -> httpx.AsyncClient:
        timeout = httpx.Timeout(provider.timeout, connect=provider.connect_timeout)
        limits = httpx.Limits(max_connections=limit, max_keepalive_connections=limit, keepalive_expiry=60.0)
        if provider.type == "mock":
            return httpx.AsyncClient(transport=mock_transport_for(provider), timeout=timeout)
        if http2:
            try:
                import h2  # noqa: F401
            except ImportError:
                http2 = False
        return httpx.AsyncClient(timeout=timeout, limits=limits, http2=http2, trust_env=False)

    def prune(self, providers: tuple[ProviderPlan, ...]) -> list[httpx.AsyncClient]:
        """Forget clients that no provider of the new plan uses; returns them for closing later."""
        live = {(p.name, p.type, p.base_url) for p in providers}
        stale = [key for key in self._clients if key[:3] not in live]
        return [self._clients.pop(key) for key in stale]

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()
