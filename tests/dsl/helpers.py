"""Shared helpers for the rule language tests."""

from __future__ import annotations

from collections.abc import Mapping

from modelmux.dsl import CompiledRule, RequestFacts, RuleDiagnostic, compile_rule


def compiled(text: str, declared: Mapping[str, str] | None = None) -> CompiledRule:
    """A rule that must compile without errors."""
    rule = compile_rule(text, declared=declared)
    assert rule.ok, rule.diagnostics
    return rule


def only_error(text: str, declared: Mapping[str, str] | None = None) -> RuleDiagnostic:
    """The one error diagnostic the rule must produce."""
    rule = compile_rule(text, declared=declared)
    errors = [d for d in rule.diagnostics if d.severity == "error"]
    assert len(errors) == 1, rule.diagnostics
    return errors[0]


def at(text: str, diagnostic: RuleDiagnostic) -> str:
    """The part of the text a diagnostic points at."""
    return text[diagnostic.offset : diagnostic.offset + diagnostic.length]


def matches(text: str, **facts: object) -> bool:
    facts.setdefault("model", "gpt-4")
    return compiled(text).predicate(RequestFacts(**facts))  # type: ignore[arg-type]
