"""Sends upstream requests with httpx: the mock provider's in-process transport, and HTTP/2."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import httpx

from modelmux.runtime.upstream.base import UpstreamConnectError, UpstreamTimeout, UpstreamTransportError


class HttpxResponse:
    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    @property
    def status_code(self) -> int:
        return self._response.status_code

    @property
    def headers(self) -> Mapping[str, str]:
        return self._response.headers

    async def aread(self) -> bytes:
        try:
            return await self._response.aread()
        except httpx.TransportError as exc:
            raise translate(exc) from exc

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        try:
            async for piece in self._response.aiter_bytes():
                yield piece
        except httpx.TransportError as exc:
            raise translate(exc) from exc

    async def aclose(self) -> None:
        await self._response.aclose()


class HttpxSender:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def send(self, request: httpx.Request, *, stream: bool = False) -> HttpxResponse:
        try:
            response = await self._client.send(request, stream=stream)
        except httpx.TransportError as exc:
            raise translate(exc) from exc
        return HttpxResponse(response)

    async def aclose(self) -> None:
        await self._client.aclose()


def translate(exc: httpx.TransportError) -> UpstreamTransportError:
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout | httpx.ConnectError):
        return UpstreamConnectError(type(exc).__name__)
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamTimeout(type(exc).__name__)
    return UpstreamTransportError(type(exc).__name__)
