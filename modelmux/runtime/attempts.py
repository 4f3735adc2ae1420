"""One request's attempts: which provider comes next, whether a failure may be retried, and the
error the client gets when none succeeds.

Retry policy (CONFIG.md `routing.fallback`):
- 400, 404, 413 and 422 are answered at once, after exactly one upstream call;
- 401, 403 and 429 move on to another provider and never retry the same one;
- statuses in `on:`, timeouts and connection errors retry, on the next candidate first, with
  backoff (full jitter, `Retry-After` honoured and bounded) when a provider is tried again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from modelmux.errors import RequestError
from modelmux.plan.models import FallbackPlan, ProviderPlan
from modelmux.routing import CIRCUIT_OPEN, RATE_LIMITED, RouteDecision
from modelmux.runtime.outcome import AttemptFailure, AttemptRecord

NEVER_RETRIED = frozenset({400, 404, 413, 422})
MOVE_ON = frozenset({401, 403, 429})


@dataclass
class Attempts:
    """The state of one request's attempts: who was tried, and what the last failure was."""

    decision: RouteDecision
    fallback: FallbackPlan
    max_attempts: int
    estimated_tokens: int = 0
    count: int = 0
    skipped: set[str] = field(default_factory=set)
    tried: list[str] = field(default_factory=list)
    last_failure: AttemptFailure | None = None
    retry_after: dict[str, float] = field(default_factory=dict)
    deadline_at: float | None = None
    records: list[AttemptRecord] = field(default_factory=list)

    def next_provider(self) -> ProviderPlan | None:
        usable = [p for p in self.decision.candidates if p.name not in self.skipped]
        if not usable:
            return None
        fresh = [p for p in usable if p.name not in self.tried]
        if fresh:
            return fresh[0]
        return usable[self.count % len(usable)]

    def may_retry(self, provider: ProviderPlan, failure: AttemptFailure) -> bool:
        """Record a failure; True when another attempt may follow."""
        self.last_failure = failure
        if failure.retry_after is not None:
            self.retry_after[provider.name] = failure.retry_after
        if failure.kind == "translation" or failure.status in NEVER_RETRIED:
            return False
        if failure.status in MOVE_ON:
            self.skipped.add(provider.name)
            return True
        if failure.kind == "timeout":
            return self.fallback.retry_timeout
        if failure.kind in ("connect_error", "stream_error"):
            return self.fallback.retry_connect_error
        return failure.status in self.fallback.retry_statuses

    def headers(self, provider: ProviderPlan | None) -> dict[str, str]:
        name = provider.name if provider else (self.tried[-1] if self.tried else "")
        return {
            "X-ModelMux-Provider": name,
            "X-ModelMux-Route": self.decision.route,
            "X-ModelMux-Attempts": str(self.count),
        }

    def final_error(self) -> RequestError:
        failure = self.last_failure
        if failure is None:
            return RequestError(
                503,
                "no provider could be tried",
                type="api_error",
                code="no_available_provider",
                headers=self.headers(None),
            )
        error = failure.error
        error.headers = {**error.headers, **self.headers(None)}
        if failure.retry_after is not None:
            error.headers["Retry-After"] = str(max(1, round(failure.retry_after)))
        return error


def only_rate_limited(decision: RouteDecision) -> bool:
    """Every provider that could serve is waiting out a rate limit (not a broken circuit): a 429."""
    waiting = [why for _, why in decision.excluded if why in (RATE_LIMITED, CIRCUIT_OPEN)]
    return bool(waiting) and all(why == RATE_LIMITED for why in waiting)


def unavailable(provider: ProviderPlan) -> AttemptFailure:
    error = RequestError(
        503,
        f"provider {provider.name!r} is unavailable (circuit open or rate limited)",
        type="api_error",
        code="no_available_provider",
    )
    return AttemptFailure(error, "unavailable", 503)
