"""Mutable runtime state of the providers, keyed by provider name so it survives plan swaps.

`RuntimeState` is long-lived (one per process); a reloaded plan updates each provider's breaker and
rate-limit settings in place, and `forget_missing` drops providers the new plan no longer has. The
executor drives one `ProviderRuntimeState` per attempt:

    if state.try_acquire(estimated_tokens):   # rate-limit slot (+ the half-open probe slot)
        state.on_start()
        ... send ...
        state.on_success(latency, ttft, tokens) | state.on_failure(kind) | state.on_cancel()
    a 429 with Retry-After also calls state.penalize(retry_after)

Everything runs on one event loop (no locks); time comes from the injected clock.
"""

from __future__ import annotations

import random
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass

from modelmux.plan.models import Plan, ProviderPlan
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


@dataclass(frozen=True, slots=True)
class Availability:
    """Whether a provider could take a request now; `reason` is a category, `detail` says more."""

    ok: bool
    reason: str | None = None
    detail: str | None = None
    retry_in: float = 0.0


class ProviderRuntimeState:
    def __init__(self, plan: ProviderPlan, clock: Clock, latency_decay: float = DEFAULT_LATENCY_DECAY) -> None:
        self.name = plan.name
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
        self._reservations: deque[int] = deque()

    def configure(self, plan: ProviderPlan) -> None:
        """Take the breaker and rate-limit settings of a (reloaded) plan."""
        self.breaker.configure(plan.circuit_breaker)
        self.limiter.configure(plan.rate_limit, self._clock())

    def availability(self) -> Availability:
        now = self._clock()
        state = self.breaker.state(now)
        if state is BreakerState.OPEN:
            wait = self.breaker.retry_in(now)
            return Availability(False, CIRCUIT_OPEN, f"circuit open, retry in {wait:.1f}s", wait)
        if state is BreakerState.HALF_OPEN and self.breaker.probe_in_flight:
            return Availability(False, CIRCUIT_OPEN, "circuit half-open, probe in flight", 0.0)
        if self.penalized_until > now:
            wait = self.penalized_until - now
            return Availability(False, RATE_LIMITED, f"rate limited upstream (Retry-After), {wait:.1f}s left", wait)
        blocked = self.limiter.blocked(now)
        if blocked is not None:
            return Availability(False, RATE_LIMITED, blocked, self.limiter.wait_time(now))
        return Availability(True)

    def available(self) -> tuple[bool, str | None]:
        """(True, None) or (False, why). Takes nothing."""
        verdict = self.availability()
        return verdict.ok, verdict.detail

    def try_acquire(self, estimated_tokens: int) -> bool:
        """Take a request slot from the outbound buckets and, when half-open, the single probe slot."""
        now = self._clock()
        if self.penalized_until > now or not self.breaker.allows(now):
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
            "outcomes": dict(self.outcomes),
        }

    def _end(self) -> None:
        self.in_flight = max(self.in_flight - 1, 0)

    def _take_reservation(self) -> int:
        return self._reservations.popleft() if self._reservations else 0


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
