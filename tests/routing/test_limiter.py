from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelmux.plan.models import ProviderPlan, RateLimitPlan
from modelmux.routing import OutboundLimiter, RuntimeState, TokenBucket
from tests.routing.support import FakeClock


def test_bucket_starts_full_and_refills_at_capacity_per_minute() -> None:
    bucket = TokenBucket(60, now=0.0)
    assert all(bucket.try_take(1, 0.0) for _ in range(60))
    assert not bucket.try_take(1, 0.0)
    assert bucket.level(0.5) == pytest.approx(0.5)
    assert not bucket.try_take(1, 0.5)
    assert bucket.try_take(1, 1.0)  # 60 rpm = one per second
    assert bucket.level(1.0) == pytest.approx(0.0)
    assert bucket.level(1000.0) == 60.0  # never above capacity
    assert bucket.wait_time(1, 1000.0) == 0.0


def test_bucket_wait_time() -> None:
    bucket = TokenBucket(120, now=0.0)
    bucket.try_take(120, 0.0)
    assert bucket.wait_time(1, 0.0) == pytest.approx(0.5)


def test_oversized_request_goes_only_when_the_bucket_is_full() -> None:
    bucket = TokenBucket(1000, now=0.0)
    assert bucket.try_take(5000, 0.0)  # larger than the bucket: allowed when full, leaves a debt
    assert bucket.level(0.0) == -4000.0
    assert not bucket.can_take(1, 59.0)
    assert bucket.can_take(1, 5 * 60.0)


@given(st.lists(st.tuples(st.floats(0, 10), st.integers(0, 50)), max_size=50))
def test_bucket_level_stays_within_bounds(steps: list[tuple[float, int]]) -> None:
    bucket = TokenBucket(100, now=0.0)
    now = 0.0
    for elapsed, amount in steps:
        now += elapsed
        bucket.try_take(amount, now)
        assert 0.0 <= bucket.level(now) <= 100.0


def test_limiter_rpm_and_tpm() -> None:
    limiter = OutboundLimiter(RateLimitPlan(rpm=2, tpm=1000), now=0.0)
    assert limiter.acquire(600, 0.0)
    assert not limiter.acquire(600, 0.0)  # tpm: 400 left, nothing taken
    assert limiter.rpm is not None and limiter.rpm.level(0.0) == 1.0
    assert limiter.acquire(300, 0.0)
    assert limiter.blocked(0.0) == "rate limit: 2 rpm reached"
    limiter.settle(reserved=600, actual=100, now=0.0)  # used fewer tokens than reserved
    assert limiter.tpm is not None and limiter.tpm.level(0.0) == 600.0
    limiter.refund(300, 0.0)
    assert limiter.tpm.level(0.0) == 900.0


def test_limiter_without_limits_never_blocks() -> None:
    limiter = OutboundLimiter(None, now=0.0)
    assert all(limiter.acquire(10**9, 0.0) for _ in range(100))
    assert limiter.blocked(0.0) is None


def test_provider_state_rate_limit_and_settlement() -> None:
    clock = FakeClock()
    plan = ProviderPlan(name="p", type="mock", base_url="mock://", rate_limit=RateLimitPlan(rpm=60, tpm=1000))
    state = RuntimeState(clock=clock).provider(plan)
    assert state.try_acquire(800)
    state.on_start()
    assert state.available() == (True, None)
    assert not state.try_acquire(800)
    state.on_success(1.0, None, tokens=200)  # 600 of the reserved 800 come back
    assert state.try_acquire(800)
    state.on_start()
    state.on_failure("status_5xx")  # a failure refunds the reservation
    snapshot = state.snapshot()
    assert snapshot["tpm_left"] == 800
    assert snapshot["rpm_left"] == 58  # the refused acquire took nothing


def test_provider_state_rpm_exhausted_until_refill() -> None:
    clock = FakeClock()
    plan = ProviderPlan(name="p", type="mock", base_url="mock://", rate_limit=RateLimitPlan(rpm=3))
    state = RuntimeState(clock=clock).provider(plan)
    assert [state.try_acquire(0) for _ in range(4)] == [True, True, True, False]
    assert state.available() == (False, "rate limit: 3 rpm reached")
    clock.advance(20.0)
    assert state.available() == (True, None)


def test_reload_resizes_buckets_and_keeps_state() -> None:
    clock = FakeClock()
    runtime = RuntimeState(clock=clock)
    plan = ProviderPlan(name="p", type="mock", base_url="mock://", rate_limit=RateLimitPlan(rpm=10))
    state = runtime.provider(plan)
    for _ in range(8):
        state.try_acquire(0)
    smaller = ProviderPlan(name="p", type="mock", base_url="mock://", rate_limit=RateLimitPlan(rpm=5))
    assert runtime.provider(smaller) is state
    assert state.limiter.rpm is not None
    assert state.limiter.rpm.capacity == 5.0
    assert state.limiter.rpm.level(clock()) == 2.0
    unlimited = ProviderPlan(name="p", type="mock", base_url="mock://")
    runtime.provider(unlimited)
    assert state.limiter.rpm is None


def test_penalize_honours_retry_after() -> None:
    clock = FakeClock()
    state = RuntimeState(clock=clock).provider(ProviderPlan(name="p", type="mock", base_url="mock://"))
    state.penalize(12.0)
    ok, reason = state.available()
    assert not ok
    assert reason == "rate limited upstream (Retry-After), 12.0s left"
    assert not state.try_acquire(1)
    clock.advance(12.0)
    assert state.available() == (True, None)
    state.penalize(None)  # no Retry-After: a short default pause
    assert not state.available()[0]
    clock.advance(1.0)
    assert state.available()[0]
