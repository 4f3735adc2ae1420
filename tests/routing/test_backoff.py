from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelmux.plan.models import FallbackPlan
from modelmux.routing import backoff_ceiling, backoff_delay


def _plan(backoff: str, initial: float = 0.5, max_delay: float = 4.0, max_retry_after: float = 30.0) -> FallbackPlan:
    return FallbackPlan(
        enabled=True,
        max_retries=5,
        backoff=backoff,
        initial_delay=initial,
        max_delay=max_delay,
        max_retry_after=max_retry_after,
    )


@pytest.mark.parametrize(
    ("backoff", "expected"),
    [
        ("constant", [0.5, 0.5, 0.5, 0.5, 0.5]),
        ("linear", [0.5, 1.0, 1.5, 2.0, 2.5]),
        ("exponential", [0.5, 1.0, 2.0, 4.0, 4.0]),  # capped by max_delay
    ],
)
def test_schedules(backoff: str, expected: list[float]) -> None:
    plan = _plan(backoff)
    assert [backoff_ceiling(plan, n) for n in range(1, 6)] == expected


def test_full_jitter_is_uniform_below_the_ceiling() -> None:
    plan = _plan("exponential")
    rng = random.Random(1)
    delays = [backoff_delay(plan, 3, None, rng) for _ in range(2000)]
    assert all(0.0 <= d <= 2.0 for d in delays)
    assert min(delays) < 0.1
    assert max(delays) > 1.9
    assert sum(delays) / len(delays) == pytest.approx(1.0, abs=0.1)


def test_jitter_is_deterministic_with_a_seeded_rng() -> None:
    plan = _plan("linear")
    first = [backoff_delay(plan, n, None, random.Random(42)) for n in range(1, 5)]
    second = [backoff_delay(plan, n, None, random.Random(42)) for n in range(1, 5)]
    assert first == second


def test_retry_after_overrides_without_jitter_and_is_capped() -> None:
    plan = _plan("exponential", max_retry_after=10.0)
    rng = random.Random(0)
    assert backoff_delay(plan, 1, 7.0, rng) == 7.0
    assert backoff_delay(plan, 1, 120.0, rng) == 10.0
    assert backoff_delay(plan, 1, -3.0, rng) == 0.0


def test_huge_retry_numbers_do_not_overflow() -> None:
    assert backoff_ceiling(_plan("exponential"), 10_000) == 4.0


def test_unknown_backoff_is_an_error() -> None:
    with pytest.raises(ValueError):
        backoff_ceiling(_plan("fibonacci"), 1)


@given(
    backoff=st.sampled_from(["constant", "linear", "exponential"]),
    retry=st.integers(min_value=0, max_value=100),
    initial=st.floats(min_value=0, max_value=10),
    max_delay=st.floats(min_value=0, max_value=60),
    seed=st.integers(0, 2**32),
)
def test_delay_always_within_zero_and_max_delay(
    backoff: str, retry: int, initial: float, max_delay: float, seed: int
) -> None:
    delay = backoff_delay(_plan(backoff, initial, max_delay), retry, None, random.Random(seed))
    assert 0.0 <= delay <= max_delay
