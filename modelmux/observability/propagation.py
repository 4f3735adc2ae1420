"""Trace context from a request's span to its upstream attempts, without importing OpenTelemetry.

The observe policy sets `CURRENT_TRACE` for the request while the pipeline runs (tracing on only); the
pooled upstream clients call `upstream_request_hook(provider)`'s hook on every request they send, which
lets the request's trace open the attempt's span and write its `traceparent` into the headers. With
tracing off the hook costs one context-variable read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Protocol

import httpx


class AttemptTracer(Protocol):
    def attempt_started(self, provider: str, request: httpx.Request) -> None: ...


CURRENT_TRACE: ContextVar[AttemptTracer | None] = ContextVar("modelmux_current_trace", default=None)


def upstream_request_hook(provider: str) -> Callable[[httpx.Request], Awaitable[None]]:
    """An httpx `request` event hook for the pooled client of `provider`."""

    async def on_request(request: httpx.Request) -> None:
        trace = CURRENT_TRACE.get()
        if trace is not None:
            trace.attempt_started(provider, request)

    return on_request
