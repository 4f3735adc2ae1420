from __future__ import annotations

import math

import pytest

from modelmux.plan.models import ProviderPlan
from modelmux.routing import ALPHA, Ewma, RuntimeState
from tests.routing.support import FakeClock


def test_alpha_is_documented_value() -> None:
    assert ALPHA == 0.3


def test_ewma_moves_thirty_percent_towards_each_sample() -> None:
    ewma = Ewma()
    assert ewma.estimate(0.0, 60.0) is None
    ewma.update(1.0, 0.0, decay=0.0)
    assert ewma.estimate(0.0, 0.0) == 1.0
    ewma.update(2.0, 0.0, decay=0.0)
    assert ewma.value == pytest.approx(1.3)
    ewma.update(2.0, 0.0, decay=0.0)
    assert ewma.value == pytest.approx(1.51)


def test_ewma_goes_unknown_after_decay() -> None:
    ewma = Ewma()
    ewma.update(5.0, 100.0, decay=60.0)
    assert ewma.estimate(159.9, 60.0) == 5.0
    assert ewma.estimate(160.0, 60.0) is None


def test_older_average_weighs_less_and_stale_one_is_replaced() -> None:
    ewma = Ewma()
    ewma.update(10.0, 0.0, decay=60.0)
    ewma.update(1.0, 30.0, decay=60.0)  # the old value keeps (1 - alpha) * e^-0.5 of its weight
    keep = 0.7 * math.exp(-0.5)
    assert ewma.value == pytest.approx(keep * 10.0 + (1 - keep) * 1.0)
    ewma.update(4.0, 90.0, decay=60.0)  # 60s after the last sample: unknown, starts afresh
    assert ewma.value == 4.0
    fresh = Ewma()
    fresh.update(10.0, 0.0, decay=60.0)
    fresh.update(1.0, 0.0, decay=60.0)
    assert fresh.value == pytest.approx(7.3)


def test_bad_alpha_is_rejected() -> None:
    with pytest.raises(ValueError):
        Ewma(alpha=0.0)


def test_provider_state_tracks_latency_and_ttft_separately() -> None:
    clock = FakeClock()
    runtime = RuntimeState(clock=clock)
    state = runtime.provider(ProviderPlan(name="p", type="mock", base_url="mock://"))
    state.on_start()
    state.on_success(2.0, 0.25, 100)
    assert state.latency_estimate(stream=False) == 2.0
    assert state.latency_estimate(stream=True) == 0.25
    state.on_start()
    state.on_success(1.0, None, 100)
    assert state.latency_estimate(stream=False) == pytest.approx(1.7)
    assert state.latency_estimate(stream=True) == 0.25
    clock.advance(60.0)
    assert state.latency_estimate(stream=False) is None


def test_error_rate_rises_on_failures_and_falls_on_successes() -> None:
    clock = FakeClock()
    state = RuntimeState(clock=clock).provider(ProviderPlan(name="p", type="mock", base_url="mock://"))
    assert state.error_rate() == 0.0
    state.on_start()
    state.on_failure("timeout")
    assert state.error_rate() == 1.0
    state.on_start()
    state.on_success(0.1, None, None)
    assert state.error_rate() == pytest.approx(0.7)
