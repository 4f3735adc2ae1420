from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.routing.support import Harness, compile_plan, mock_providers


def _harness(strategy: str, *names: str, extra: str = "", seed: int = 7, routing: str = "") -> Harness:
    yaml = mock_providers(*names, extra=extra) + f"routing:\n  strategy: {strategy}\n{routing}"
    return Harness(compile_plan(yaml), seed=seed)


def test_model_specific_keeps_config_order() -> None:
    h = _harness("model_specific", "a", "b", "c")
    assert h.names() == ["a", "b", "c"]
    assert h.names() == ["a", "b", "c"]
    assert h.decide().strategy == "model_specific"


def test_round_robin_rotates_per_model() -> None:
    yaml = (
        "providers:\n"
        "  - {name: a, type: mock, models: [gpt-4, gpt-4o]}\n"
        "  - {name: b, type: mock, models: [gpt-4, gpt-4o]}\n"
        "  - {name: c, type: mock, models: [gpt-4]}\n"
        "routing:\n  strategy: round_robin\n"
    )
    h = Harness(compile_plan(yaml))
    assert h.names("gpt-4") == ["a", "b", "c"]
    assert h.names("gpt-4") == ["b", "c", "a"]
    assert h.names("gpt-4o") == ["a", "b"]  # its own counter
    assert h.names("gpt-4") == ["c", "a", "b"]
    assert h.names("gpt-4o") == ["b", "a"]
    assert h.names("gpt-4") == ["a", "b", "c"]


def test_weighted_order_follows_weights() -> None:
    yaml = (
        "providers:\n"
        "  - {name: heavy, type: mock, models: [gpt-4], weight: 8}\n"
        "  - {name: light, type: mock, models: [gpt-4], weight: 2}\n"
        "  - {name: off, type: mock, models: [gpt-4], weight: 0}\n"
        "routing:\n  strategy: weighted\n"
    )
    h = Harness(compile_plan(yaml), seed=3)
    firsts = Counter()
    for _ in range(2000):
        order = h.names()
        assert order[-1] == "off"  # weight 0: last, a fallback only
        assert sorted(order) == ["heavy", "light", "off"]
        firsts[order[0]] += 1
    assert 1500 < firsts["heavy"] < 1700  # 80% expected
    assert firsts["off"] == 0


def test_weighted_is_deterministic_for_a_seed() -> None:
    yaml = mock_providers("a", "b", "c", "d")
    first = Harness(compile_plan(yaml + "routing:\n  strategy: weighted\n"), seed=11)
    second = Harness(compile_plan(yaml + "routing:\n  strategy: weighted\n"), seed=11)
    assert [first.names() for _ in range(20)] == [second.names() for _ in range(20)]


def test_least_connections_prefers_fewest_in_flight_ties_by_config() -> None:
    h = _harness("least_connections", "a", "b", "c")
    assert h.names() == ["a", "b", "c"]
    h.provider("a").on_start()
    h.provider("a").on_start()
    h.provider("b").on_start()
    assert h.names() == ["c", "b", "a"]
    h.provider("a").on_success(0.1, None, None)
    h.provider("a").on_cancel()
    assert h.names() == ["a", "c", "b"]


def test_latency_explores_unknown_then_prefers_fastest() -> None:
    h = _harness("latency", "a", "b", "c", routing="  latency_decay: 30s\n")
    for name, seconds in (("a", 0.9), ("b", 0.2)):
        h.provider(name).on_start()
        h.provider(name).on_success(seconds, None, None)
    assert h.names() == ["c", "b", "a"]  # c has no sample yet: explored first
    h.provider("c").on_start()  # the exploring request is in flight: don't pile on
    assert h.names() == ["b", "a", "c"]
    h.provider("c").on_success(0.5, None, None)
    assert h.names() == ["b", "c", "a"]


def test_latency_uses_time_to_first_token_for_streams() -> None:
    h = _harness("latency", "a", "b")
    h.provider("a").on_start()
    h.provider("a").on_success(5.0, 0.1, None)  # long answer, fast first token
    h.provider("b").on_start()
    h.provider("b").on_success(1.0, 0.8, None)
    assert h.names(stream=False) == ["b", "a"]
    assert h.names(stream=True) == ["a", "b"]


def test_latency_decay_gives_a_recovered_provider_another_chance() -> None:
    h = _harness("latency", "a", "b", routing="  latency_decay: 30s\n")
    h.provider("a").on_start()
    h.provider("a").on_success(10.0, None, None)  # slow once
    h.provider("b").on_start()
    h.provider("b").on_success(1.0, None, None)
    assert h.names() == ["b", "a"]
    h.clock.advance(20.0)
    h.provider("b").on_start()
    h.provider("b").on_success(1.0, None, None)
    assert h.names() == ["b", "a"]
    h.clock.advance(10.0)  # a's sample is 30s old: unknown again, explored first
    assert h.names() == ["a", "b"]
    h.provider("a").on_start()
    h.provider("a").on_success(0.5, None, None)  # it recovered; the stale 10s barely counts
    assert h.names() == ["a", "b"]


def test_cost_cheapest_first_unknown_last() -> None:
    yaml = (
        "providers:\n"
        "  - {name: pricey, type: mock, models: {chat: gpt-4}}\n"
        "  - {name: unknown, type: mock, models: {chat: my-local-model}}\n"
        "  - {name: cheap, type: mock, models: {chat: gpt-4o-mini}}\n"
        "  - name: custom\n    type: mock\n    models: {chat: house}\n"
        "    pricing: {house: {input: $1, output: $1}}\n"
        "routing:\n  strategy: cost_optimized\n"
    )
    h = Harness(compile_plan(yaml))
    assert h.names("chat", prompt_tokens=1000, max_tokens=100) == ["cheap", "custom", "pricey", "unknown"]
    assert h.decide("chat").strategy == "cost"


def test_cost_uses_output_estimate() -> None:
    # in: $1/M out: $100/M vs in: $10/M out: $1/M
    yaml = (
        "providers:\n"
        "  - name: out_heavy\n    type: mock\n    models: {chat: x}\n"
        "    pricing: {x: {input: $1, output: $100}}\n"
        "  - name: in_heavy\n    type: mock\n    models: {chat: y}\n"
        "    pricing: {y: {input: $10, output: $1}}\n"
        "routing:\n  strategy: cost\n"
    )
    h = Harness(compile_plan(yaml))
    assert h.names("chat", prompt_tokens=10_000, max_tokens=10) == ["out_heavy", "in_heavy"]
    assert h.names("chat", prompt_tokens=10) == ["in_heavy", "out_heavy"]  # 256 output tokens assumed


def test_availability_prefers_healthy() -> None:
    h = _harness("availability", "a", "b", "c", extra="circuit_breaker: {failures: 2, window: 60s, cooldown: 10s}")
    h.provider("a").on_start()
    h.provider("a").on_failure("status_5xx")
    assert h.names() == ["b", "c", "a"]  # a has a recent error rate
    h.provider("b").on_start()
    h.provider("b").on_failure("timeout")
    h.provider("b").on_start()
    h.provider("b").on_failure("timeout")  # opens
    h.clock.advance(10.0)  # b is half-open now: after closed ones
    assert h.names() == ["c", "a", "b"]


def test_hybrid_uses_base_after_rules() -> None:
    yaml = mock_providers("a", "b", "c") + (
        "routing:\n  strategy: hybrid\n  base: round_robin\n"
        '  rules:\n    - if: metadata.tier == "gold"\n      providers: [c, b]\n'
    )
    h = Harness(compile_plan(yaml))
    assert h.names(metadata={"tier": "gold"}) == ["c", "b"]
    assert h.names(metadata={"tier": "gold"}) == ["b", "c"]
    assert h.names() == ["a", "b", "c"]  # the default route has its own counter
    assert h.names() == ["b", "c", "a"]
    assert h.decide().strategy == "hybrid"


@settings(max_examples=40, deadline=None)
@given(
    strategy=st.sampled_from(
        ["round_robin", "weighted", "least_connections", "latency", "cost", "availability", "model_specific"]
    ),
    seed=st.integers(0, 1000),
    calls=st.integers(1, 5),
)
def test_no_strategy_drops_or_duplicates_a_candidate(strategy: str, seed: int, calls: int) -> None:
    h = _harness(strategy, "a", "b", "c", "d", seed=seed)
    for _ in range(calls):
        assert sorted(h.names()) == ["a", "b", "c", "d"]
