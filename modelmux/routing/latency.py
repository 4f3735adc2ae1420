"""Exponentially weighted moving averages that forget: latency, time to first token, error rate.

`alpha` is 0.3: a new sample moves the average 30% of the way, so the last ~5 samples carry most of
the weight. Each average also ages: after `decay` seconds without a sample (the plan's
`routing.latency_decay`) it counts as unknown again, so the `latency` strategy explores the provider
anew, and the next sample starts the average afresh: a provider that recovered is judged on what it
does now. Before that, an older average weighs less: it keeps `(1 - alpha) * exp(-age / decay)` of
its weight instead of `1 - alpha`. Time is passed in (`now`).
"""

from __future__ import annotations

import math

ALPHA = 0.3


class Ewma:
    def __init__(self, alpha: float = ALPHA) -> None:
        if not 0.0 < alpha <= 1.0:
            raise ValueError("alpha must be in (0, 1]")
        self.alpha = alpha
        self.value: float | None = None
        self.updated_at: float | None = None
        self.samples = 0

    def update(self, sample: float, now: float, decay: float) -> float:
        if self.value is None or self.updated_at is None or _stale(now - self.updated_at, decay):
            self.value = sample
        else:
            keep = (1.0 - self.alpha) * _confidence(now - self.updated_at, decay)
            self.value = keep * self.value + (1.0 - keep) * sample
        self.updated_at = now
        self.samples += 1
        return self.value

    def estimate(self, now: float, decay: float) -> float | None:
        """The average, or None when there is no sample or the last one is `decay` seconds old or more."""
        if self.value is None or self.updated_at is None:
            return None
        if _stale(now - self.updated_at, decay):
            return None
        return self.value


def _stale(age: float, decay: float) -> bool:
    return decay > 0 and age >= decay


def _confidence(age: float, decay: float) -> float:
    if decay <= 0 or age <= 0:
        return 1.0
    return math.exp(-age / decay)
