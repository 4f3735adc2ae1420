from __future__ import annotations

import dataclasses
from types import MappingProxyType

from modelmux.dsl.facts import RequestFacts
from modelmux.plan.models import RulePlan
from modelmux.routing import (
    CIRCUIT_OPEN,
    DOES_NOT_SERVE,
    NOT_IN_TARGET,
    RATE_LIMITED,
    Router,
    RuntimeState,
)
from tests.routing.support import FakeClock, Harness, compile_plan, with_routing

RULES = """
providers:
  - {name: openai, type: mock, models: [gpt-4, gpt-4o]}
  - {name: anthropic, type: mock, models: {gpt-4: claude-3-opus, claude: claude-3-5-sonnet}}
  - {name: cohere, type: mock, models: [command-r, gpt-4]}
  - {name: local, type: mock, models: [llama]}
routing:
  strategy: model_specific
  rules:
    - if: model == "gpt-4" and stream == true
      providers: [anthropic, openai]
      name: streams
    - if: metadata.cost_sensitive == true
      provider: cohere
    - if: metadata.tier == "cheap"
      model: gpt-4o
    - if: model == "gpt-4"
      provider: openai
"""


def test_first_matching_rule_wins_and_narrows() -> None:
    h = Harness(compile_plan(RULES))
    decision = h.decide(stream=True, metadata={"cost_sensitive": True})
    assert decision.route == "streams"
    assert decision.rule is not None and decision.rule.index == 0
    assert [p.name for p in decision.candidates] == ["anthropic", "openai"]  # rule order
    assert ("cohere", NOT_IN_TARGET) in decision.excluded
    assert ("local", DOES_NOT_SERVE) in decision.excluded


def test_second_rule_and_default_route() -> None:
    h = Harness(compile_plan(RULES))
    decision = h.decide("command-r", metadata={"cost_sensitive": True})
    assert decision.route == "rule-2"
    assert [p.name for p in decision.candidates] == ["cohere"]
    decision = h.decide("claude")
    assert decision.route == "default"
    assert decision.rule is None
    assert [p.name for p in decision.candidates] == ["anthropic"]
    assert set(decision.excluded) == {
        ("openai", DOES_NOT_SERVE),
        ("cohere", DOES_NOT_SERVE),
        ("local", DOES_NOT_SERVE),
    }


def test_model_rewrite_without_providers_uses_all_serving_the_new_model() -> None:
    h = Harness(compile_plan(RULES))
    decision = h.decide("gpt-4", metadata={"tier": "cheap"})
    assert decision.route == "rule-3"
    assert decision.model == "gpt-4o"
    assert [p.name for p in decision.candidates] == ["openai"]
    assert ("anthropic", DOES_NOT_SERVE) in decision.excluded


def test_model_indexed_rule_does_not_fire_for_other_models() -> None:
    h = Harness(compile_plan(RULES))
    assert h.decide("gpt-4").route == "rule-4"
    assert h.decide("command-r").route == "default"


def test_rules_are_found_by_index_not_position() -> None:
    plan = compile_plan(RULES)
    rules = plan.routing.rules
    # drop rule 0 (as if it had not compiled): the indices no longer equal positions
    shifted = with_routing(
        plan,
        rules=rules[1:],
        rules_by_model=MappingProxyType({"gpt-4": (3,)}),
        unindexed_rules=(1, 2),
    )
    h = Harness(shifted)
    assert h.decide("gpt-4", stream=True).route == "rule-4"
    assert h.decide("gpt-4", metadata={"tier": "cheap"}).route == "rule-3"


def test_a_failing_predicate_is_skipped_and_reported() -> None:
    plan = compile_plan(RULES)

    def boom(facts: object) -> bool:
        raise RuntimeError("broken")

    broken = dataclasses.replace(plan.routing.rules[0], predicate=boom)
    h = Harness(with_routing(plan, rules=(broken, *plan.routing.rules[1:])))
    decision = h.decide(stream=True)
    assert decision.route == "rule-4"
    assert any("streams" in note and "broken" in note for note in decision.notes)


def test_circuit_open_providers_are_excluded() -> None:
    plan = compile_plan(RULES)
    h = Harness(plan)
    anthropic = h.provider("anthropic")
    for _ in range(5):
        anthropic.on_start()
        anthropic.on_failure("status_5xx")
    decision = h.decide(stream=True)
    assert [p.name for p in decision.candidates] == ["openai"]
    assert ("anthropic", CIRCUIT_OPEN) in decision.excluded
    assert not decision.unavailable


def test_all_unavailable_fails_fast_with_retry_after() -> None:
    h = Harness(compile_plan(RULES))
    for name in ("anthropic", "openai"):
        state = h.provider(name)
        for _ in range(5):
            state.on_start()
            state.on_failure("timeout")
    h.clock.advance(10.0)
    h.provider("openai").penalize(None)
    decision = h.decide(stream=True)
    assert decision.candidates == ()
    assert decision.unavailable
    assert ("anthropic", CIRCUIT_OPEN) in decision.excluded
    assert ("openai", CIRCUIT_OPEN) in decision.excluded
    assert decision.retry_after == 20.0
    h.clock.advance(20.0)
    decision = h.decide(stream=True)
    assert [p.name for p in decision.candidates] == ["anthropic", "openai"]
    assert decision.retry_after is None


def test_rate_limited_provider_is_excluded() -> None:
    yaml = """
providers:
  - {name: a, type: mock, models: [gpt-4], rate_limit: {rpm: 1}}
  - {name: b, type: mock, models: [gpt-4]}
"""
    h = Harness(compile_plan(yaml))
    assert h.provider("a").try_acquire(10)
    decision = h.decide()
    assert [p.name for p in decision.candidates] == ["b"]
    assert ("a", RATE_LIMITED) in decision.excluded


def test_unknown_model_has_no_candidates_but_is_not_unavailable() -> None:
    h = Harness(compile_plan(RULES))
    decision = h.decide("nope")
    assert decision.candidates == ()
    assert not decision.unavailable
    assert len(decision.excluded) == 4


def test_state_survives_a_plan_swap_and_forgets_removed_providers() -> None:
    clock = FakeClock()
    state = RuntimeState(clock=clock)
    router = Router(state)
    old = compile_plan(RULES)
    router.decide(old, RequestFacts(model="gpt-4"))
    openai = state.provider(old.provider_index["openai"])
    openai.on_start()
    openai.on_success(0.4, None, 10)
    new = compile_plan(RULES.replace("  - {name: local, type: mock, models: [llama]}\n", ""))
    assert new.fingerprint != old.fingerprint
    router.decide(new, RequestFacts(model="gpt-4"))
    assert state.provider(new.provider_index["openai"]) is openai
    assert state.get("local") is None
    snapshot = state.snapshot()
    assert set(snapshot) == {"openai", "anthropic", "cohere"}
    assert snapshot["openai"]["latency_ewma"] == 0.4
    assert snapshot["openai"]["breaker"] == "closed"
    assert snapshot["openai"]["in_flight"] == 0


def test_rule_plan_is_usable_standalone() -> None:
    rule = RulePlan(
        index=0,
        name="r",
        text="true",
        predicate=lambda facts: True,
        providers=("b",),
        model=None,
        model_equals=None,
        location="x:1:1",
    )
    plan = compile_plan("providers:\n  - {name: a, type: mock, models: [m]}\n  - {name: b, type: mock, models: [m]}\n")
    h = Harness(with_routing(plan, rules=(rule,), unindexed_rules=(0,)))
    assert h.names("m") == ["b"]


def test_decide_consumes_nothing() -> None:
    h = Harness(compile_plan("providers:\n  - {name: a, type: mock, models: [gpt-4], rate_limit: {rpm: 1}}\n"))
    for _ in range(50):
        assert h.names() == ["a"]
    assert h.provider("a").try_acquire(1)
    assert h.names() == []


def test_a_new_plan_brings_its_latency_decay() -> None:
    h = Harness(compile_plan(RULES))
    h.decide()
    assert h.provider("openai").latency_decay == 60.0
    h.plan = compile_plan(RULES.replace("  strategy: model_specific\n", "  strategy: latency\n  latency_decay: 5s\n"))
    h.decide()
    assert h.state.latency_decay == 5.0
    assert h.provider("openai").latency_decay == 5.0
