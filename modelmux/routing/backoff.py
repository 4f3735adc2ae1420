"""The delay before a retry: constant, linear or exponential, with full jitter; Retry-After wins.

For retry number n (1 for the first retry) with `initial_delay` d:
constant d, linear d * n, exponential d * 2^(n-1); the result is capped at `max_delay` and the delay is
drawn uniformly from [0, that] ("full jitter", which spreads retries of many clients best). An upstream
`Retry-After` (seconds) replaces the schedule, without jitter, bounded by `max_retry_after`.
"""

from __future__ import annotations

import random

from modelmux.plan.models import FallbackPlan

_MAX_EXPONENT = 62


def backoff_ceiling(fallback: FallbackPlan, retry_number: int) -> float:
    """The schedule's delay before jitter for retry `retry_number` (1-based), capped by `max_delay`."""
    n = max(retry_number, 1)
    initial = max(fallback.initial_delay, 0.0)
    if fallback.backoff == "constant":
        delay = initial
    elif fallback.backoff == "linear":
        delay = initial * n
    elif fallback.backoff == "exponential":
        delay = initial * float(2 ** min(n - 1, _MAX_EXPONENT))
    else:
        raise ValueError(f"unknown backoff {fallback.backoff!r}")
    return min(delay, max(fallback.max_delay, 0.0))


def backoff_delay(fallback: FallbackPlan, retry_number: int, retry_after: float | None, rng: random.Random) -> float:
    """Seconds to wait before retry `retry_number` (1-based)."""
    if retry_after is not None:
        return min(max(retry_after, 0.0), max(fallback.max_retry_after, 0.0))
    return rng.uniform(0.0, backoff_ceiling(fallback, retry_number))
