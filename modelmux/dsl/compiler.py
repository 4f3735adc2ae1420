"""compile_rule: rule text to a predicate, diagnostics and an analysable condition. It never raises."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from modelmux.dsl.analysis import model_names, never_matches_condition, shadows_condition
from modelmux.dsl.attributes import declared_types
from modelmux.dsl.condition import Condition, to_condition
from modelmux.dsl.diagnostics import RuleDiagnostic, Span, error
from modelmux.dsl.facts import RequestFacts
from modelmux.dsl.lower import Lowerer, never
from modelmux.dsl.parser import parse
from modelmux.dsl.typecheck import TypeChecker

_CACHE_SIZE = 4096


@dataclass(frozen=True)
class CompiledRule:
    """A rule ready to run. With errors, `predicate` is always false and `condition` is None."""

    text: str
    predicate: Callable[[RequestFacts], bool]
    diagnostics: tuple[RuleDiagnostic, ...]
    unknown_attributes: tuple[tuple[str, int, int], ...]
    model_equals: frozenset[str] | None
    condition: Condition | None

    @property
    def ok(self) -> bool:
        return not any(diagnostic.severity == "error" for diagnostic in self.diagnostics)


def compile_rule(text: str, *, declared: Mapping[str, str] | None = None) -> CompiledRule:
    """Compile one rule. Problems come back as diagnostics; nothing is raised for any text."""
    if not isinstance(text, str):
        return _failed(str(text), f"a rule must be text, not {type(text).__name__}")
    try:
        key = tuple(sorted((str(name), str(kind)) for name, kind in (declared or {}).items()))
        return _compile_cached(text, key)
    except RecursionError:
        return _failed(text, "rule nests too deeply")
    except Exception as exc:  # the promise is "never raises": a bug becomes a diagnostic, not a crash
        return _failed(text, f"internal error while compiling the rule: {type(exc).__name__}: {exc}")


def never_matches(rule: CompiledRule) -> bool:
    """Whether no request can match the rule (proven; False when unsure or when the rule has errors)."""
    return never_matches_condition(rule.condition)


def shadows(earlier: CompiledRule, later: CompiledRule) -> bool:
    """Whether every request matching `later` also matches `earlier` (proven; False when unsure)."""
    limit, narrower = earlier.model_equals, later.model_equals
    if limit is not None and (narrower is None or not narrower <= limit):
        return False  # `later` may match a model that `earlier` never does: a cheap first cut
    return shadows_condition(earlier.condition, later.condition)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _compile_cached(text: str, declared: tuple[tuple[str, str], ...]) -> CompiledRule:
    node = parse(text)
    if isinstance(node, RuleDiagnostic):
        return CompiledRule(text, never, (node,), (), None, None)
    checker = TypeChecker(text, declared_types(dict(declared)))
    checker.check_rule(node)
    diagnostics = tuple(sorted(checker.diagnostics, key=lambda d: (d.offset, d.length)))
    unknown = tuple(checker.unknown)
    if any(diagnostic.severity == "error" for diagnostic in diagnostics):
        return CompiledRule(text, never, diagnostics, unknown, None, None)
    predicate = Lowerer(checker.types).predicate(node)
    condition = to_condition(node, checker.types)
    return CompiledRule(text, predicate, diagnostics, unknown, model_names(node), condition)


def _failed(text: str, message: str) -> CompiledRule:
    span = Span(0, max(len(text), 1))
    return CompiledRule(text, never, (error(message, span),), (), None, None)
