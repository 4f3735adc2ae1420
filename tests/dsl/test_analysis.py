"""Analysis of compiled rules: never_matches, shadows and model_equals."""

from __future__ import annotations

import pytest

from modelmux.dsl import compile_rule, never_matches, shadows

from .helpers import compiled


@pytest.mark.parametrize(
    "text",
    [
        "false",
        "not true",
        'model == "a" and model == "b"',
        'model == "a" and model != "a"',
        "x == 1 and x != 1",
        "x == 1 and x == 2",
        'x == "a" and x == null',
        "latency < 10ms and latency > 1s",
        "latency < 1s and latency >= 1s",
        "latency <= 1s and latency >= 1s and latency != 1s",
        "tools > 3 and tools < 2",
        "tools > 3 and not tools > 2",
        'model in ["a", "b"] and model in ["c"]',
        'model in ["a", "b"] and model not in ["a", "b"]',
        'model in ["a", "b"] and model != "a" and model != "b"',
        "model in []",
        'model == "gpt-4" and model starts_with "claude"',
        'model == "gpt-4" and model matches "^claude"',
        'model == "gpt-4" and not model contains "gpt"',
        "stream and not stream",
        "stream == true and stream == false",
        "contains_code(prompt) and not contains_code(prompt)",
        "(stream or deterministic) and not stream and not deterministic",
        'user == null and user == "bob"',
        "latency == null and latency < 1s",
        'headers["x-a"] == "1" and headers["X-A"] == "2"',
        "cost_sensitive == true and metadata.cost_sensitive == false",
        "temperature < 0.5 and temperature > 0.7",
        "max_tokens == 100 and max_tokens > 200",
        "x in [1, 2] and x > 5",
        "false or (tools > 3 and tools < 1)",
    ],
)
def test_never_matches_finds_contradictions(text: str) -> None:
    assert never_matches(compiled(text))


@pytest.mark.parametrize(
    "text",
    [
        "true",
        'model == "a"',
        'model == "a" or model == "b"',
        'x == 1 and x == "1"',
        "x == 1 and x == true",
        "x == null or x == 1",
        "latency < 1s and latency > 10ms",
        "latency <= 1s and latency >= 1s",
        "not latency < 1s and not latency >= 1s",
        "tools > 1 and tools < 2",
        'model in ["a", "b"] and model != "a"',
        'model starts_with "gpt" and model contains "4"',
        "stream or not stream",
        "x != 1 and x != 2",
        'user != null and user != "a"',
    ],
)
def test_never_matches_is_false_when_a_request_can_match(text: str) -> None:
    assert not never_matches(compiled(text))


def test_never_matches_is_false_for_rules_with_errors() -> None:
    assert not never_matches(compile_rule("model > 3"))


@pytest.mark.parametrize(
    ("earlier", "later"),
    [
        ('model == "gpt-4"', 'model == "gpt-4" and stream == true'),
        ("true", 'model == "gpt-4"'),
        ("true", "false"),
        ('model == "gpt-4"', 'model == "gpt-4"'),
        ('model  ==  "gpt-4"', '"gpt-4" == model'),
        ('model in ["a", "b"]', 'model == "a"'),
        ('model in ["a", "b", "c"]', 'model in ["a", "b"]'),
        ('model != "a"', 'model == "b"'),
        ('model starts_with "gpt"', 'model == "gpt-4"'),
        ('model matches "^gpt"', 'model in ["gpt-4", "gpt-3.5"]'),
        ("latency < 1s", "latency < 100ms"),
        ("latency <= 100ms", "latency < 100ms"),
        ("latency < 1s", "latency == 10ms"),
        ("latency != 5s", "latency < 1s"),
        ("not latency < 1s", "latency >= 2s"),
        ("tools > 0", "tools >= 2"),
        ("stream", "stream == true and deterministic"),
        ("stream == false", "not stream"),
        ("latency != null", "latency < 1s"),
        ("user != null", 'user == "bob"'),
        ("stream or deterministic", "deterministic and tools > 1"),
        ('model == "a" or model == "b"', 'model in ["a", "b"] and stream'),
        ("cost_sensitive", "cost_sensitive == true and tier == 1"),
        ("metadata.cost_sensitive == true", "cost_sensitive and stream"),
        ('headers["x-tier"] == "gold"', 'headers["X-Tier"] == "gold" and stream'),
        ("stream", "false"),
        ("x < 5", "x == 3"),
    ],
)
def test_shadows_when_every_later_match_matches_earlier(earlier: str, later: str) -> None:
    assert shadows(compiled(earlier), compiled(later))


@pytest.mark.parametrize(
    ("earlier", "later"),
    [
        ('model == "gpt-4" and stream == true', 'model == "gpt-4"'),
        ('model == "a"', 'model == "b"'),
        ('model == "a"', 'model in ["a", "b"]'),
        ("latency < 100ms", "latency < 1s"),
        ("latency < 100ms", "latency <= 100ms"),
        ("not latency > 1s", "latency != 5s"),
        ("x == 1", 'x == "1"'),
        ("x == true", "x != false"),
        ("stream", "deterministic"),
        ("false", "true"),
        ("cost_sensitive == false", "not cost_sensitive"),
        ("user == null", 'user != "bob"'),
        ("latency != null", "not latency < 1s"),
        ("contains_code(prompt)", "is_creative(prompt)"),
    ],
)
def test_shadows_is_false_when_not_proven(earlier: str, later: str) -> None:
    assert not shadows(compiled(earlier), compiled(later))


def test_shadows_is_false_when_either_rule_has_errors() -> None:
    good, bad = compiled("true"), compile_rule("model > 3")
    assert not shadows(good, bad)
    assert not shadows(bad, good)


def test_shadows_handles_rules_too_large_to_analyse() -> None:
    big = " and ".join(f"(x{i} == 1 or y{i} == 2)" for i in range(12))
    rule = compiled(big)
    assert rule.condition is not None and rule.condition.clauses is None
    assert shadows(rule, compiled(big.replace("  ", " ")))
    assert shadows(compiled("true"), rule)
    assert not shadows(rule, compiled("x0 == 1"))
    assert not never_matches(rule)


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ('model == "gpt-4"', {"gpt-4"}),
        ('"gpt-4" == model', {"gpt-4"}),
        ('model in ["a", "b"]', {"a", "b"}),
        ('model == "gpt-4" and stream', {"gpt-4"}),
        ('stream and (model == "a" or model == "b")', {"a", "b"}),
        ('model in ["a", "b"] and model == "a"', {"a"}),
        ('model == "a" and model == "b"', set()),
        ('model == "a" or model in ["b", "c"]', {"a", "b", "c"}),
        ("false", set()),
        ('false or model == "a"', {"a"}),
    ],
)
def test_model_equals_lists_the_only_models_a_rule_can_match(text: str, names: set[str]) -> None:
    assert compiled(text).model_equals == frozenset(names)


@pytest.mark.parametrize(
    "text",
    [
        "stream",
        "true",
        'model != "a"',
        'model starts_with "gpt"',
        'model == "a" or stream',
        'not model == "a"',
        'lower(model) == "a"',
        'model in ["a", user]',
        'user == "a"',
        'headers["model"] == "a"',
        'metadata.model == "a"',
    ],
)
def test_model_equals_is_none_when_any_model_may_match(text: str) -> None:
    assert compiled(text).model_equals is None


def test_model_equals_is_none_for_rules_with_errors() -> None:
    assert compile_rule('model == "a" and model > 3').model_equals is None


def test_condition_is_a_normal_form() -> None:
    rule = compiled('model == "a" and not stream')
    assert rule.condition is not None and rule.condition.clauses is not None
    (clause,) = rule.condition.clauses
    assert {(atom.subject, atom.op, atom.value, atom.positive) for atom in clause} == {
        ("model", "==", "a", True),
        ("stream", "==", True, False),
    }
