"""Loading the grammar and parsing rule text into a syntax tree; the parser is built once per process."""

from __future__ import annotations

import functools
import importlib.resources
from pathlib import Path
from typing import Any

from lark import Lark
from lark.exceptions import UnexpectedInput

from modelmux.dsl.ast import Expr
from modelmux.dsl.diagnostics import RuleDiagnostic
from modelmux.dsl.syntax import describe_syntax_error
from modelmux.dsl.to_ast import RuleTransformer, resolve

GRAMMAR_NAME = "rules.lark"


def grammar_text() -> str:
    """The shipped grammar (`modelmux/_grammar/rules.lark` in a wheel), else the repository's copy."""
    try:
        shipped = importlib.resources.files("modelmux") / "_grammar" / GRAMMAR_NAME
        if shipped.is_file():
            return shipped.read_text(encoding="utf-8")
    except (ModuleNotFoundError, OSError, TypeError, ValueError):
        pass
    return (Path(__file__).resolve().parents[2] / "grammar" / GRAMMAR_NAME).read_text(encoding="utf-8")


@functools.cache
def rule_parser() -> Any:
    """The LALR parser for rules, built on first use and shared by every compile.

    The transformer runs inside the parser (no parse tree is built); it keeps no state.
    """
    return Lark(
        grammar_text(),
        parser="lalr",
        propagate_positions=True,
        maybe_placeholders=False,
        transformer=RuleTransformer(),
    )


def parse(text: str) -> Expr | RuleDiagnostic:
    """The syntax tree of `text`, or the first syntax error in it."""
    if not text.strip():
        return RuleDiagnostic("error", "empty rule", 0, 1, 'write a condition such as model == "gpt-4"')
    try:
        result = rule_parser().parse(text)
    except UnexpectedInput as exc:
        return describe_syntax_error(text, exc)
    return resolve(result)
