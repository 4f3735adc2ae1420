"""Compiling rule expressions found anywhere in a config, with diagnostics placed inside the YAML."""

from __future__ import annotations

from collections.abc import Mapping

from modelmux.compiler.context import CompileContext
from modelmux.config.loader import PathKey
from modelmux.dsl import CompiledRule, compile_rule


def compile_expression(text: str, path: PathKey, ctx: CompileContext, declared: Mapping[str, str]) -> CompiledRule:
    """Compile one rule; its errors and warnings land in the bag at the right column of the file."""
    rule = compile_rule(text, declared=declared)
    for item in rule.diagnostics:
        span = ctx.text_span(path, item.offset, item.length)
        if item.severity == "error":
            ctx.bag.error(item.message, span, hint=item.hint, code="rule")
        else:
            ctx.bag.warning(item.message, span, hint=item.hint, code="rule")
    if ctx.strict:
        for name, offset, length in rule.unknown_attributes:
            ctx.bag.warning(
                f"`{name}` is not a request attribute; it reads metadata.{name}",
                ctx.text_span(path, offset, length),
                hint=f"declare it under routing.attributes (for example `{name}: bool`) or write metadata.{name}",
                code="undeclared-attribute",
            )
    return rule
