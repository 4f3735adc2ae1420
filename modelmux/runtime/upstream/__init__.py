"""Sending translated requests upstream.

Adapters build `httpx.Request` objects (a plain description of method, URL, headers and body). A
`Sender` sends them: `AiohttpSender` by default (measured several times faster per request than
httpx's own transport, see benchmarks/README.md), `HttpxSender` for the in-process mock provider and
for upstreams configured with `http2: true`. Transport failures are raised as the three exceptions
below, whatever the library underneath.
"""

from modelmux.runtime.upstream.base import (
    Sender,
    UpstreamConnectError,
    UpstreamResponse,
    UpstreamTimeout,
    UpstreamTransportError,
)

__all__ = ["Sender", "UpstreamConnectError", "UpstreamResponse", "UpstreamTimeout", "UpstreamTransportError"]
