"""The rule language: conditions such as `model == "gpt-4" and latency < 100ms`, compiled once into
predicates over a request's facts, with diagnostics and analysis (never-matching and shadowed rules).

    rule = compile_rule('model == "gpt-4" and not stream')
    if rule.ok and rule.predicate(RequestFacts(model="gpt-4")):
        ...
"""

from modelmux.dsl.attributes import ATTRIBUTE_TYPES
from modelmux.dsl.compiler import CompiledRule, compile_rule, never_matches, shadows
from modelmux.dsl.diagnostics import RuleDiagnostic
from modelmux.dsl.facts import RequestFacts

__all__ = [
    "ATTRIBUTE_TYPES",
    "CompiledRule",
    "RequestFacts",
    "RuleDiagnostic",
    "compile_rule",
    "never_matches",
    "shadows",
]
