"""Mutable runtime state of the providers, keyed by provider name so it survives plan swaps.

`RuntimeState` is long-lived (one per process); a reloaded plan updates each provider's breaker and
rate-limit settings in place, and `forget_missing` drops providers the new plan no longer has. The
executor drives one `ProviderRuntimeState` per attempt:

    if state.try_acquire(estimated_tokens):   # rate-limit slot (+ the half-open probe slot)
        state.on_start()
        ... send ...
        state.on_success(latency, ttft, tokens) | state.on_failure(kind) | state.on_cancel()
    a 429 with Retry-After also calls state.penalize(retry_after)

Active health checks (`modelmux.routing.health`) call `mark_unhealthy(detail, retry_in)` when a probe
fails and `mark_healthy()` when one succeeds; an unhealthy provider is unavailable ("health check
failed") until then. Probes take no rate-limit token and no breaker probe slot.

Everything runs on one event loop (no locks); time comes from the injected clock.
"""

from __future__ import annotations

import random
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass

from modelmux.plan.models import Plan, ProviderPlan, RateLimitPlan
from modelmux.routing.breaker import BreakerState, CircuitBreaker
from modelmux.routing.latency import Ewma
from modelmux.routing.limiter import OutboundLimiter

Clock = Callable[[], float]
FAILURE_KINDS = frozenset({"status_5xx", "status_429", "timeout", "connect_error", "stream_error"})
DEFAULT_PENALTY = 1.0  # seconds to skip a provider after a 429 without a usable Retry-After
MAX_PENALTY = 86_400.0
DEFAULT_LATENCY_DECAY = 60.0

CIRCUIT_OPEN = "circuit open"
RATE_LIMITED = "rate limited"
UNHEALTHY = "health check failed"


@dataclass(frozen=True, slots=True)
class Availability:
    """Whether a provider could take a request now; `reason` is a category, `detail` says more."""

    ok: bool
    reason: str | None = None
    detail: str | None = None
    retry_in: float = 0.0


AVAILABLE = Availability(True)


class ProviderRuntimeState:
    def __init__(self, plan: ProviderPlan, clock: Clock, latency_decay: float = DEFAULT_LATENCY_DECAY) -> None:
        self.name = plan.name
        self._plan = plan
        self._clock = clock
        now = clock()
        self.breaker = CircuitBreaker(plan.circuit_breaker)
        self.limiter = OutboundLimiter(plan.rate_limit, now)
        self.latency = Ewma()
        self.ttft = Ewma()
        self.errors = Ewma()
        self.latency_decay = latency_decay
        self.in_flight = 0
        self.penalized_until = 0.0
        self.outcomes: Counter[str] = Counter()
        self.unhealthy: str | None = None
        self._health_retry_at = 0.0
        self._reservations: deque[int] = deque()
        self._share = (0, 1)

    def configure(self, plan: ProviderPlan) -> None:
        """Take the breaker and rate-limit settings of a (reloaded) plan (free when it is the same object)."""
        if plan is self._plan:
            return
        self._plan = plan
        self.breaker.configure(plan.circuit_breaker)
        self.limiter.configure(shared_limit(plan.rate_limit, *self._share), self._clock())

    def share_limits(self, part: int, parts: int) -> None:
        """Replicas split the outbound limits: this process keeps share `part` (0-based) of `parts`."""
        share = (part, max(parts, 1))
        if share != self._share:
            self._share = share
            self.limiter.configure(shared_limit(self._plan.rate_limit, *share), self._clock())

    def availability(self, now: float | None = None) -> Availability:
        """Whether a request could go now (`now`: this state's clock, read once by a caller checking many)."""
        if now is None:
            now = self._clock()
        state = self.breaker.state(now)
        if state is BreakerState.OPEN:
            wait = self.breaker.retry_in(now)
            return Availability(False, CIRCUIT_OPEN, f"circuit open, retry in {wait:.1f}s", wait)
        if state is BreakerState.HALF_OPEN and self.breaker.probe_in_flight:
            return Availability(False, CIRCUIT_OPEN, "circuit half-open, probe in flight", 0.0)
        if self.unhealthy is not None:
            wait = max(self._health_retry_at - now, 0.0)
            return Availability(False, UNHEALTHY, f"health check failed: {self.unhealthy}", wait)
        if self.penalized_until > now:
            wait = self.penalized_until - now
            return Availability(False, RATE_LIMITED, f"rate limited upstream (Retry-After), {wait:.1f}s left", wait)
        limiter = self.limiter
        if limiter.rpm is None and limiter.tpm is None:
            return AVAILABLE
        blocked = limiter.blocked(now)
        if blocked is not None:
            return Availability(False, RATE_LIMITED, blocked, limiter.wait_time(now))
        return AVAILABLE

    def available(self) -> tuple[bool, str | None]:
        """(True, None) or (False, why). Takes nothing."""
        verdict = self.availability()
        return verdict.ok, verdict.detail

    def try_acquire(self, estimated_tokens: int) -> bool:
        """Take a request slot from the outbound buckets and, when half-open, the single probe slot."""
        now = self._clock()
        if self.unhealthy is not None or self.penalized_until > now or not self.breaker.allows(now):
            return False
        if not self.limiter.acquire(estimated_tokens, now):
            return False
        self.breaker.acquire(now)
        self._reservations.append(max(estimated_tokens, 0))
        return True

    def on_start(self) -> None:
        self.in_flight += 1

    def on_success(self, latency: float, ttft: float | None, tokens: int | None) -> None:
        now = self._clock()
        self._end()
        self.outcomes["success"] += 1
        self.latency.update(latency, now, self.latency_decay)
        if ttft is not None:
            self.ttft.update(ttft, now, self.latency_decay)
        self.errors.update(0.0, now, self.latency_decay)
        self.breaker.record_success(now)
        self.limiter.settle(self._take_reservation(), tokens, now)

    def on_failure(self, kind: str) -> None:
        """A failed attempt (any `FAILURE_KINDS`, others count the same): feeds the breaker window."""
        now = self._clock()
        self._end()
        self.outcomes[kind] += 1
        self.errors.update(1.0, now, self.latency_decay)
        self.breaker.record_failure(now)
        self.limiter.refund(self._take_reservation(), now)

    def on_cancel(self) -> None:
        """The client went away: not a failure; frees a half-open probe slot; keeps the tokens reserved."""
        self._end()
        self.outcomes["cancelled"] += 1
        self.breaker.release_probe()
        self._take_reservation()

    def penalize(self, retry_after: float | None) -> None:
        """Skip this provider until Retry-After has passed (DEFAULT_PENALTY seconds when not given)."""
        wait = DEFAULT_PENALTY if retry_after is None else min(max(retry_after, 0.0), MAX_PENALTY)
        self.penalized_until = max(self.penalized_until, self._clock() + wait)

    def mark_unhealthy(self, detail: str, retry_in: float = 0.0) -> None:
        """An active health check failed: unavailable until a check succeeds (`retry_in`: the next check)."""
        self.unhealthy = detail or "probe failed"
        self._health_retry_at = self._clock() + max(retry_in, 0.0)

    def mark_healthy(self) -> None:
        """An active health check succeeded (or checks were turned off): available again."""
        self.unhealthy = None

    def latency_estimate(self, stream: bool) -> float | None:
        """EWMA of time to first token for streams, of total latency otherwise; None when unknown."""
        tracker = self.ttft if stream else self.latency
        return tracker.estimate(self._clock(), self.latency_decay)

    def error_rate(self) -> float:
        return self.errors.estimate(self._clock(), self.latency_decay) or 0.0

    def breaker_state(self) -> BreakerState:
        return self.breaker.state(self._clock())

    def snapshot(self) -> dict[str, object]:
        now = self._clock()
        rpm, tpm = self.limiter.rpm, self.limiter.tpm
        return {
            "breaker": self.breaker.state(now).value,
            "circuit_retry_in": round(self.breaker.retry_in(now), 3),
            "recent_failures": self.breaker.recent_failures(now),
            "latency_ewma": self.latency.value,
            "ttft_ewma": self.ttft.value,
            "error_rate": round(self.error_rate(), 4),
            "in_flight": self.in_flight,
            "rpm_left": None if rpm is None else int(rpm.level(now)),
            "tpm_left": None if tpm is None else int(tpm.level(now)),
            "penalized_for": round(max(self.penalized_until - now, 0.0), 3),
            "healthy": self.unhealthy is None,
            "health_detail": self.unhealthy,
            "outcomes": dict(self.outcomes),
        }

    def _end(self) -> None:
        self.in_flight = max(self.in_flight - 1, 0)

    def _take_reservation(self) -> int:
        return self._reservations.popleft() if self._reservations else 0


def shared_limit(limit: RateLimitPlan | None, part: int, parts: int) -> RateLimitPlan | None:
    """Replica `part`'s share of a limit split `parts` ways: even shares, the remainder to the first
    replicas, never below 1 (so more replicas than the limit allows one each)."""
    if limit is None or parts <= 1:
        return limit

    def share(total: int | None) -> int | None:
        return None if total is None else max(total // parts + (1 if part < total % parts else 0), 1)

    return RateLimitPlan(share(limit.rpm), share(limit.tpm))


class RuntimeState:
    """All providers' runtime state, by provider name; one per process, kept across reloads."""

    def __init__(self, clock: Clock = time.monotonic, rng: random.Random | None = None) -> None:
        self.clock = clock
        self.rng = rng if rng is not None else random.Random()
        self.latency_decay = DEFAULT_LATENCY_DECAY
        self._providers: dict[str, ProviderRuntimeState] = {}
        self._synced: Plan | None = None

    def provider(self, plan_provider: ProviderPlan) -> ProviderRuntimeState:
        """Get or create the state of a provider, updated to the plan's breaker and limit settings."""
        state = self._providers.get(plan_provider.name)
        if state is not None and state._plan is plan_provider:  # the hot path: nothing to update
            return state
        if state is None:
            state = ProviderRuntimeState(plan_provider, self.clock, self.latency_decay)
            self._providers[plan_provider.name] = state
        else:
            state.configure(plan_provider)
        return state

    def get(self, name: str) -> ProviderRuntimeState | None:
        return self._providers.get(name)

    def forget_missing(self, plan: Plan) -> None:
        for name in [n for n in self._providers if n not in plan.provider_index]:
            del self._providers[name]

    def sync(self, plan: Plan) -> None:
        """Adopt a plan once (cheap when called again with the same plan): settings, decay, forgetting."""
        if self._synced is plan:
            return
        self.latency_decay = plan.routing.latency_decay
        self.forget_missing(plan)
        for provider in plan.providers:
            self.provider(provider).latency_decay = self.latency_decay
        self._synced = plan

    def snapshot(self) -> dict[str, dict[str, object]]:
        return {name: state.snapshot() for name, state in sorted(self._providers.items())}
