"""The public surface of modelmux.dsl."""

from __future__ import annotations

import dataclasses
import inspect
from decimal import Decimal

import pytest

import modelmux.dsl
from modelmux.dsl import CompiledRule, RequestFacts, RuleDiagnostic, compile_rule


def test_public_names_are_curated() -> None:
    assert sorted(modelmux.dsl.__all__) == [
        "ATTRIBUTE_TYPES",
        "CompiledRule",
        "RequestFacts",
        "RuleDiagnostic",
        "compile_rule",
        "never_matches",
        "shadows",
    ]
    for name in modelmux.dsl.__all__:
        assert hasattr(modelmux.dsl, name)


def test_compile_rule_takes_declared_by_keyword_only() -> None:
    parameters = inspect.signature(compile_rule).parameters
    assert list(parameters) == ["text", "declared"]
    assert parameters["declared"].kind is inspect.Parameter.KEYWORD_ONLY


def test_diagnostics_and_facts_are_frozen() -> None:
    diagnostic = RuleDiagnostic("error", "bad", 0, 1)
    facts = RequestFacts(model="m")
    with pytest.raises(dataclasses.FrozenInstanceError):
        diagnostic.message = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        facts.model = "other"  # type: ignore[misc]
    assert diagnostic.hint is None
    assert not hasattr(diagnostic, "__dict__") and not hasattr(facts, "__dict__")


def test_compiled_rule_is_frozen_and_reports_ok() -> None:
    rule = compile_rule('model == "gpt-4"')
    assert isinstance(rule, CompiledRule)
    assert rule.ok and rule.text == 'model == "gpt-4"'
    with pytest.raises(dataclasses.FrozenInstanceError):
        rule.text = "x"  # type: ignore[misc]


def test_warnings_do_not_make_a_rule_fail() -> None:
    rule = compile_rule('modle == "x"')
    assert rule.ok and rule.diagnostics[0].severity == "warning"


@pytest.mark.parametrize("value", [None, True, 5, Decimal("1"), ["model"]])
def test_non_text_rule_is_an_error_not_a_crash(value: object) -> None:
    rule = compile_rule(value)  # type: ignore[arg-type]
    assert not rule.ok
    assert rule.diagnostics[0].message.startswith("a rule must be text")


def test_roadmap_rules_compile() -> None:
    for text in (
        'model == "gpt-4"',
        "cost_sensitive == true",
        "latency < 100ms",
        "deterministic == true",
        "stream == true",
    ):
        assert compile_rule(text).ok, text
