"""Sends upstream requests with aiohttp: one pooled session per provider, keep-alive, bounded pool."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

import aiohttp
import httpx

from modelmux.runtime.upstream.base import UpstreamConnectError, UpstreamTimeout, UpstreamTransportError

SKIPPED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})


class AiohttpResponse:
    def __init__(self, response: aiohttp.ClientResponse, body: bytes | None) -> None:
        self._response = response
        self._body = body

    @property
    def status_code(self) -> int:
        return self._response.status

    @property
    def headers(self) -> Mapping[str, str]:
        return self._response.headers

    async def aread(self) -> bytes:
        if self._body is None:
            try:
                self._body = await self._response.read()
            except Exception as exc:
                raise translate(exc) from exc
        return self._body

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        try:
            async for piece in self._response.content.iter_any():
                yield piece
        except Exception as exc:
            raise translate(exc) from exc

    async def aclose(self) -> None:
        self._response.release()


class AiohttpSender:
    def __init__(
        self,
        *,
        timeout: float,
        connect_timeout: float,
        max_connections: int,
        on_request: Callable[[httpx.Request], Awaitable[None]] | None = None,
    ) -> None:
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout, sock_read=timeout)
        self._limit = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._on_request = on_request

    def _session_for_loop(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._limit, keepalive_timeout=60.0, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),  # one tenant's upstream cookies never go out with another's
                timeout=self._timeout,
                auto_decompress=True,
                trust_env=False,
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    async def send(self, request: httpx.Request, *, stream: bool = False) -> AiohttpResponse:
        if self._on_request is not None:
            await self._on_request(request)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in SKIPPED_HEADERS}
        session = self._session_for_loop()
        try:
            response = await session.request(
                request.method, str(request.url), data=request.content, headers=headers, allow_redirects=False
            )
        except Exception as exc:
            raise translate(exc) from exc
        if stream:
            return AiohttpResponse(response, None)
        try:
            body = await response.read()
        except Exception as exc:
            response.release()
            raise translate(exc) from exc
        response.release()
        return AiohttpResponse(response, body)

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()


def translate(exc: Exception) -> Exception:
    """aiohttp's and asyncio's failures as the three transport errors the executor knows."""
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            return UpstreamConnectError(f"connect timeout ({type(exc).__name__})")
        return UpstreamTimeout(type(exc).__name__)
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ClientSSLError):
        return UpstreamConnectError(type(exc).__name__)
    if isinstance(exc, aiohttp.ClientError | ConnectionError | OSError):
        return UpstreamTransportError(type(exc).__name__)
    return exc
