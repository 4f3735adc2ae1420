"""A per-provider circuit breaker: closed, open, half-open with exactly one probe.

- closed: every request may go. A failure is remembered with its time; when `failures` failures fall
  within the sliding `window` seconds, the breaker opens. Successes do not erase earlier failures: the
  window alone forgets them.
- open: no request goes for `cooldown` seconds.
- half-open: after the cooldown exactly one request (the probe) may be in flight at a time; callers that
  come while it runs see the provider unavailable. A success closes the breaker and forgets every
  failure; a failure re-opens it for another cooldown. A cancelled probe (client disconnect) frees the
  slot without counting either way.

Outcomes are not tied to request ids: while half-open, any success closes and any failure re-opens,
which errs on the side of caution. Time is passed in (`now`, monotonic seconds): the breaker holds no
clock, so it is deterministic under test. Replicas share verdicts: `force_open(now, until)` applies
another replica's open breaker, and `on_open` tells the sharing task of a local one (runtime/sharing.py).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from enum import StrEnum

from modelmux.plan.models import BreakerPlan


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(self, plan: BreakerPlan) -> None:
        self._plan = plan
        self._failures: deque[float] = deque(maxlen=max(plan.failures, 1))
        self._state = BreakerState.CLOSED
        self._opened_at = 0.0
        self._probe_in_flight = False
        self.on_open: Callable[[], None] | None = None  # told when this breaker opens on its own verdict

    @property
    def plan(self) -> BreakerPlan:
        return self._plan

    def configure(self, plan: BreakerPlan) -> None:
        """Adopt new settings (a reloaded plan) and keep the history that still fits them."""
        if plan == self._plan:
            return
        self._plan = plan
        self._failures = deque(self._failures, maxlen=max(plan.failures, 1))

    def state(self, now: float) -> BreakerState:
        if self._state is BreakerState.OPEN and now >= self._opened_at + self._plan.cooldown:
            self._state = BreakerState.HALF_OPEN
            self._probe_in_flight = False
        return self._state

    def retry_in(self, now: float) -> float:
        """Seconds until an open breaker turns half-open (0 when it is not open)."""
        if self.state(now) is not BreakerState.OPEN:
            return 0.0
        return max(self._opened_at + self._plan.cooldown - now, 0.0)

    @property
    def probe_in_flight(self) -> bool:
        return self._probe_in_flight

    def allows(self, now: float) -> bool:
        """Whether a request could go now. Takes nothing."""
        state = self.state(now)
        if state is BreakerState.CLOSED:
            return True
        return state is BreakerState.HALF_OPEN and not self._probe_in_flight

    def acquire(self, now: float) -> bool:
        """Let a request go: always when closed; while half-open, only as the single probe."""
        state = self.state(now)
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._probe_in_flight:
            self._probe_in_flight = True
            return True
        return False

    def release_probe(self) -> None:
        """The probe ended without a verdict (cancelled, or never sent)."""
        self._probe_in_flight = False

    def record_success(self, now: float) -> None:
        if self.state(now) is BreakerState.HALF_OPEN:
            self._close()

    def record_failure(self, now: float) -> None:
        state = self.state(now)
        if state is BreakerState.HALF_OPEN:
            self._open(now)
            return
        if state is BreakerState.OPEN:
            return
        self._failures.append(now)
        if len(self._failures) >= max(self._plan.failures, 1) and now - self._failures[0] <= self._plan.window:
            self._open(now)

    def open_until(self, now: float) -> float | None:
        """When an open breaker turns half-open (None when it is not open)."""
        if self.state(now) is not BreakerState.OPEN:
            return None
        return self._opened_at + self._plan.cooldown

    def force_open(self, now: float, until: float) -> bool:
        """Open until `until` (another replica's verdict), unless already open at least that long."""
        current = self.open_until(now)
        if until <= now or (current is not None and current >= until):
            return False
        self._state = BreakerState.OPEN
        self._opened_at = until - self._plan.cooldown
        self._probe_in_flight = False
        self._failures.clear()
        return True

    def recent_failures(self, now: float) -> int:
        """Failures remembered within the window (for the admin view)."""
        return sum(1 for at in self._failures if now - at <= self._plan.window)

    def _open(self, now: float) -> None:
        self._state = BreakerState.OPEN
        self._opened_at = now
        self._probe_in_flight = False
        self._failures.clear()
        if self.on_open is not None:
            self.on_open()

    def _close(self) -> None:
        self._state = BreakerState.CLOSED
        self._probe_in_flight = False
        self._failures.clear()
