"""What every sender offers, and the transport errors the executor classifies."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Protocol

import httpx


class UpstreamTransportError(Exception):
    """The connection failed while sending or reading (reset, closed early, protocol error)."""


class UpstreamConnectError(UpstreamTransportError):
    """No connection could be made (refused, unreachable, DNS, TLS handshake, pool exhausted)."""


class UpstreamTimeout(UpstreamTransportError):
    """The upstream did not answer (or stopped sending) within the provider's timeout."""


class UpstreamResponse(Protocol):
    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]:
        """Case-insensitive lookup."""
        ...

    async def aread(self) -> bytes: ...

    def aiter_bytes(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


class Sender(Protocol):
    async def send(self, request: httpx.Request, *, stream: bool = False) -> UpstreamResponse:
        """Send; with `stream=False` the body is read before returning."""
        ...

    async def aclose(self) -> None: ...
