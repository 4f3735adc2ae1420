"""The one shape every request policy has, and the context it reads and annotates."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from modelmux.dsl import RequestFacts
from modelmux.plan.models import Plan
from modelmux.runtime.facts import build_facts
from modelmux.runtime.outcome import AttemptRecord, Outcome


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is calling, once authenticated: from an API key entry or a JWT's claims."""

    key_name: str | None = None
    user: str | None = None
    org: str | None = None
    team: str | None = None
    role: str | None = None
    models: tuple[str, ...] | None = None  # globs; None means any
    admin: bool = False

    def as_facts(self) -> dict[str, str | None]:
        return {"user": self.user, "org": self.org, "team": self.team, "role": self.role}


ANONYMOUS = Identity()


@dataclass
class RequestContext:
    """One request as the policies see it. `annotations` carries what policies learn (cache result,
    cost, redactions) to the ones after them and to the access log."""

    request_id: str
    plan: Plan
    endpoint: str  # "chat" or "embeddings"
    body: dict[str, Any]
    headers: Mapping[str, str]  # lower-case names
    client: str | None
    started: float
    identity: Identity = ANONYMOUS
    annotations: dict[str, Any] = field(default_factory=dict)
    attempts: list[AttemptRecord] = field(default_factory=list)
    pending_body: Callable[[], Awaitable[dict[str, Any]]] | None = None
    _facts: RequestFacts | None = None

    async def load_body(self) -> None:
        """Read and check the body when the HTTP layer deferred it, so that a malformed or oversized
        request is refused inside the pipeline, where observability records it like any other."""
        if self.pending_body is not None:
            reader, self.pending_body = self.pending_body, None
            self.body = await reader()
            self._facts = None

    def facts(self) -> RequestFacts:
        """What routing rules read, built once, after authentication has set the identity."""
        if self._facts is None:
            self._facts = build_facts(self.body, self.headers, identity=self.identity.as_facts())
        return self._facts

    def refresh_facts(self) -> None:
        """Policies that change the body (PII redaction) call this so rules see the new text."""
        self._facts = None


Handler = Callable[[RequestContext], Awaitable[Outcome]]


class Middleware(Protocol):
    async def __call__(self, ctx: RequestContext, call_next: Handler) -> Outcome: ...
