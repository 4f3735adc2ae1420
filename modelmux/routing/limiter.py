"""Outbound rate limits per provider: token buckets for requests per minute and tokens per minute.

A bucket holds up to `capacity` and refills continuously at `capacity / 60` per second, so a full
bucket allows a burst of one minute's worth and then the steady rate. The tpm bucket reserves the
estimated tokens of a request when it is sent and settles the difference when the real count is known;
a request larger than the whole bucket may go when the bucket is full (it would never fit otherwise),
leaving the bucket in debt that refills before the next one. Time is passed in (`now`).
"""

from __future__ import annotations

from modelmux.plan.models import RateLimitPlan


class TokenBucket:
    def __init__(self, capacity: float, now: float, per_seconds: float = 60.0) -> None:
        self.capacity = float(capacity)
        self.rate = self.capacity / per_seconds
        self._level = self.capacity
        self._updated = now

    def level(self, now: float) -> float:
        self._refill(now)
        return self._level

    def can_take(self, amount: float, now: float) -> bool:
        """Whether `amount` could be taken now (at least one unit must be left)."""
        self._refill(now)
        return self._level >= max(min(amount, self.capacity), 1.0)

    def try_take(self, amount: float, now: float) -> bool:
        if not self.can_take(amount, now):
            return False
        self._level -= max(amount, 0.0)
        return True

    def give(self, amount: float, now: float) -> None:
        """Return (or, with a negative amount, charge) units; never above capacity."""
        self._refill(now)
        self._level = min(self._level + amount, self.capacity)

    def wait_time(self, amount: float, now: float) -> float:
        """Seconds until `amount` (at least one unit) could be taken."""
        needed = max(min(amount, self.capacity), 1.0) - self.level(now)
        if needed <= 0:
            return 0.0
        return needed / self.rate if self.rate > 0 else float("inf")

    def resize(self, capacity: float, now: float, per_seconds: float = 60.0) -> None:
        """New settings from a reloaded plan: keep the level, clipped to the new capacity."""
        self._refill(now)
        self.capacity = float(capacity)
        self.rate = self.capacity / per_seconds
        self._level = min(self._level, self.capacity)

    def _refill(self, now: float) -> None:
        elapsed = now - self._updated
        if elapsed > 0:
            self._level = min(self._level + elapsed * self.rate, self.capacity)
            self._updated = now


class OutboundLimiter:
    """The rpm and tpm buckets of one provider (either may be absent)."""

    def __init__(self, plan: RateLimitPlan | None, now: float) -> None:
        self._plan = plan
        self.rpm = _bucket(None, plan.rpm if plan else None, now)
        self.tpm = _bucket(None, plan.tpm if plan else None, now)

    def configure(self, plan: RateLimitPlan | None, now: float) -> None:
        """Adopt the limits of a reloaded plan, keeping what is left in the buckets."""
        if plan == self._plan:
            return
        self._plan = plan
        self.rpm = _bucket(self.rpm, plan.rpm if plan else None, now)
        self.tpm = _bucket(self.tpm, plan.tpm if plan else None, now)

    def blocked(self, now: float) -> str | None:
        """Why no request could go now, or None. Takes nothing."""
        if self.rpm is not None and not self.rpm.can_take(1, now):
            return f"rate limit: {int(self.rpm.capacity)} rpm reached"
        if self.tpm is not None and not self.tpm.can_take(1, now):
            return f"rate limit: {int(self.tpm.capacity)} tpm reached"
        return None

    def acquire(self, estimated_tokens: int, now: float) -> bool:
        """Take one request and reserve the estimated tokens, all or nothing."""
        tokens = max(estimated_tokens, 0)
        if self.rpm is not None and not self.rpm.can_take(1, now):
            return False
        if self.tpm is not None and not self.tpm.can_take(tokens, now):
            return False
        if self.rpm is not None:
            self.rpm.try_take(1, now)
        if self.tpm is not None:
            self.tpm.try_take(tokens, now)
        return True

    def settle(self, reserved: int, actual: int | None, now: float) -> None:
        """Replace a reservation by the real token count (None: refund nothing, charge nothing more)."""
        if self.tpm is not None and actual is not None:
            self.tpm.give(reserved - actual, now)

    def refund(self, reserved: int, now: float) -> None:
        if self.tpm is not None:
            self.tpm.give(reserved, now)

    def wait_time(self, now: float) -> float:
        waits = [bucket.wait_time(1, now) for bucket in (self.rpm, self.tpm) if bucket is not None]
        return max(waits, default=0.0)


def _bucket(current: TokenBucket | None, capacity: int | None, now: float) -> TokenBucket | None:
    if capacity is None or capacity <= 0:
        return None
    if current is None:
        return TokenBucket(capacity, now)
    current.resize(capacity, now)
    return current
