from __future__ import annotations

from modelmux.plan.models import BreakerPlan, ProviderPlan
from modelmux.routing import BreakerState, CircuitBreaker, RuntimeState
from tests.routing.support import FakeClock

PLAN = BreakerPlan(failures=3, window=10.0, cooldown=5.0)


def test_opens_after_n_failures_within_the_window() -> None:
    breaker = CircuitBreaker(PLAN)
    breaker.record_failure(100.0)
    breaker.record_failure(101.0)
    assert breaker.state(101.0) is BreakerState.CLOSED
    breaker.record_failure(102.0)
    assert breaker.state(102.0) is BreakerState.OPEN
    assert breaker.retry_in(103.0) == 4.0
    assert not breaker.allows(103.0)


def test_failures_outside_the_window_do_not_count() -> None:
    breaker = CircuitBreaker(PLAN)
    breaker.record_failure(100.0)
    breaker.record_failure(105.0)
    breaker.record_failure(110.5)  # the first one is 10.5s old: only two within 10s
    assert breaker.state(110.5) is BreakerState.CLOSED
    breaker.record_failure(114.0)  # 105, 110.5, 114 within 10s
    assert breaker.state(114.0) is BreakerState.OPEN


def test_successes_do_not_reset_the_window_while_closed() -> None:
    breaker = CircuitBreaker(PLAN)
    breaker.record_failure(1.0)
    breaker.record_success(1.5)
    breaker.record_failure(2.0)
    breaker.record_success(2.5)
    breaker.record_failure(3.0)
    assert breaker.state(3.0) is BreakerState.OPEN


def test_half_open_after_cooldown_allows_exactly_one_probe() -> None:
    breaker = CircuitBreaker(PLAN)
    for at in (0.0, 1.0, 2.0):
        breaker.record_failure(at)
    assert breaker.state(6.9) is BreakerState.OPEN
    assert breaker.state(7.0) is BreakerState.HALF_OPEN
    assert breaker.allows(7.0)
    assert breaker.acquire(7.0)
    assert not breaker.allows(7.1)
    assert not breaker.acquire(7.1)


def test_probe_success_closes_and_failure_reopens() -> None:
    breaker = CircuitBreaker(PLAN)
    for at in (0.0, 1.0, 2.0):
        breaker.record_failure(at)
    assert breaker.acquire(7.0)
    breaker.record_failure(7.5)
    assert breaker.state(7.5) is BreakerState.OPEN
    assert breaker.retry_in(7.5) == 5.0
    assert breaker.state(12.5) is BreakerState.HALF_OPEN
    assert breaker.acquire(12.5)
    breaker.record_success(13.0)
    assert breaker.state(13.0) is BreakerState.CLOSED
    breaker.record_failure(13.5)
    assert breaker.state(13.5) is BreakerState.CLOSED  # the history was forgotten on closing


def test_released_probe_frees_the_slot() -> None:
    breaker = CircuitBreaker(PLAN)
    for at in (0.0, 1.0, 2.0):
        breaker.record_failure(at)
    assert breaker.acquire(8.0)
    breaker.release_probe()
    assert breaker.state(8.0) is BreakerState.HALF_OPEN
    assert breaker.acquire(8.0)


def test_reconfigure_keeps_recent_history() -> None:
    breaker = CircuitBreaker(PLAN)
    breaker.record_failure(1.0)
    breaker.record_failure(2.0)
    breaker.configure(BreakerPlan(failures=2, window=10.0, cooldown=1.0))
    breaker.record_failure(3.0)
    assert breaker.state(3.0) is BreakerState.OPEN


def _state(clock: FakeClock) -> RuntimeState:
    return RuntimeState(clock=clock)


PROVIDER = ProviderPlan(name="p", type="mock", base_url="mock://p", circuit_breaker=PLAN)


def test_provider_state_half_open_single_probe_under_concurrency() -> None:
    clock = FakeClock()
    state = _state(clock).provider(PROVIDER)
    for _ in range(3):
        assert state.try_acquire(10)
        state.on_start()
    for _ in range(3):
        state.on_failure("status_5xx")
    assert state.available() == (False, "circuit open, retry in 5.0s")
    assert not state.try_acquire(10)
    clock.advance(5.0)
    assert state.available() == (True, None)
    # many concurrent callers: exactly one gets the probe
    granted = [state.try_acquire(10) for _ in range(5)]
    assert granted == [True, False, False, False, False]
    ok, reason = state.available()
    assert not ok
    assert reason == "circuit half-open, probe in flight"
    state.on_start()
    state.on_success(0.2, None, 5)
    assert state.breaker_state() is BreakerState.CLOSED
    assert all(state.try_acquire(1) for _ in range(3))


def test_cancel_is_not_a_failure_and_releases_the_probe() -> None:
    clock = FakeClock()
    state = _state(clock).provider(PROVIDER)
    for _ in range(2):
        state.on_start()
        state.on_failure("timeout")
    for _ in range(10):
        state.on_start()
        state.on_cancel()
    assert state.breaker_state() is BreakerState.CLOSED
    state.on_start()
    state.on_failure("connect_error")
    assert state.breaker_state() is BreakerState.OPEN
    clock.advance(5.0)
    assert state.try_acquire(1)
    state.on_start()
    state.on_cancel()
    assert state.breaker_state() is BreakerState.HALF_OPEN
    assert state.try_acquire(1)  # the slot is free again
    state.on_start()
    state.on_failure("stream_error")
    assert state.breaker_state() is BreakerState.OPEN
    assert state.in_flight == 0
