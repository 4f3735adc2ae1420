"""What the runtime knows about one request, in the shape a compiled rule reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

EMPTY: Mapping[str, str] = MappingProxyType({})
_EMPTY_METADATA: Mapping[str, object] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """Built once per request by the runtime; every rule predicate reads it and nothing else.

    `latency` is the caller's latency budget in seconds; `headers` has lower-case keys.
    """

    model: str
    stream: bool = False
    deterministic: bool = False
    temperature: float | None = None
    max_tokens: int | None = None
    tools: int = 0
    user: str | None = None
    org: str | None = None
    team: str | None = None
    role: str | None = None
    region: str | None = None
    latency: float | None = None
    prompt_tokens: int = 0
    prompt: str = ""
    headers: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    metadata: Mapping[str, object] = field(default_factory=lambda: _EMPTY_METADATA)
