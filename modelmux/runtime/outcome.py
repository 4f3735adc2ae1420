"""What the executor hands back to the HTTP layer and to the policies around it.

An `Outcome` is a JSON body or an SSE byte stream, the headers to send, and what is known of the
request once it completes: the provider that answered, usage, attempts. Policies (metrics, cost,
audit, access log) register finalizers; they run once, when a JSON response is ready or a stream
ends (completed, failed or cancelled by the client).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from modelmux.errors import RequestError

log = logging.getLogger("modelmux.outcome")


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One upstream attempt, for metrics, logs and traces."""

    provider: str
    provider_type: str
    upstream_model: str
    status: int  # 200, the upstream's error status, or 502/504 for transport failures
    kind: str  # "ok", "status", "timeout", "connect_error", "stream_error", "translation", "cancelled"
    seconds: float


@dataclass
class Outcome:
    status: int
    body: bytes | None = None
    stream: AsyncIterator[bytes] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    model: str = ""
    provider: str | None = None
    provider_type: str | None = None
    upstream_model: str | None = None
    route: str = ""
    usage: dict[str, Any] | None = None
    ttft: float | None = None
    stream_error: str | None = None
    cancelled: bool = False
    attempts: list[AttemptRecord] = field(default_factory=list)
    finalizers: list[Callable[[Outcome], None]] = field(default_factory=list)
    completed: bool = False

    def complete(self) -> None:
        """Run the finalizers, once. A failing finalizer is logged, never raised into the response."""
        if self.completed:
            return
        self.completed = True
        for finalizer in self.finalizers:
            try:
                finalizer(self)
            except Exception:
                log.exception("a response finalizer failed")


@dataclass
class AttemptFailure(Exception):
    """One upstream attempt that failed; `kind` drives retry and breaker decisions."""

    error: RequestError
    kind: str  # "status", "timeout", "connect_error", "stream_error", "translation", "unavailable"
    status: int
    retry_after: float | None = None

    def __str__(self) -> str:
        return f"{self.kind} {self.status}: {self.error.message}"
