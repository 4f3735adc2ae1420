"""What the executor hands back to the HTTP layer: a JSON body or an SSE byte stream, and headers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from modelmux.errors import RequestError


@dataclass
class Outcome:
    status: int
    body: bytes | None = None
    stream: AsyncIterator[bytes] | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class AttemptFailure(Exception):
    """One upstream attempt that failed; `kind` drives retry and breaker decisions."""

    error: RequestError
    kind: str  # "status", "timeout", "connect_error", "stream_error", "translation"
    status: int
    retry_after: float | None = None

    def __str__(self) -> str:
        return f"{self.kind} {self.status}: {self.error.message}"
