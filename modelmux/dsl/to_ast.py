"""From parse to syntax tree: lark calls these callbacks while it parses (no parse tree is built).

The transformer keeps no state, so one parser serves every compile. Names are resolved here
(known attribute, header, metadata, bare metadata name); what cannot mean anything becomes an
`Invalid` node that carries its diagnostic. Spans come from the tokens.
"""

from __future__ import annotations

import re
from typing import Any

from lark import Token, Transformer

from modelmux.dsl.ast import (
    Attribute,
    BoolOp,
    Call,
    Compare,
    Expr,
    Header,
    Invalid,
    ListExpr,
    Literal,
    Metadata,
    Not,
)
from modelmux.dsl.attributes import KNOWN
from modelmux.dsl.diagnostics import Span
from modelmux.dsl.functions import FUNCTIONS
from modelmux.units import UnitError, parse_duration, parse_money, parse_percent, parse_size

_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)", re.DOTALL)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", '"': '"', "'": "'"}
_INTEGER = re.compile(r"-?\d+")
_MISSPELLED_VALUES = {"true": "true", "false": "false", "null": "null", "none": "null", "nil": "null"}
_UNIT_PARSERS = {
    "DURATION": ("duration", parse_duration),
    "SIZE": ("size", parse_size),
    "MONEY": ("money", parse_money),
    "PERCENT": ("percentage", parse_percent),
}
_CONSTANTS = {"TRUE": ("bool", True), "FALSE": ("bool", False), "NULL": ("null", None)}


def unescape(body: str) -> str:
    """The value of a quoted string; unknown escapes (`\\d` in a regular expression) stay as written."""

    def replace(match: re.Match[str]) -> str:
        code = match.group(1)
        if len(code) == 5:
            return chr(int(code[1:], 16))
        return _ESCAPES.get(code, "\\" + code)

    return _ESCAPE.sub(replace, body) if "\\" in body else body


def token_span(token: Token) -> Span:
    return Span(int(token.start_pos or 0), max(len(token), 1))


def literal(token: Token) -> Literal | Invalid:
    span, text = token_span(token), str(token)
    if token.type == "STRING":
        return Literal(unescape(text[1:-1]), "string", text, span)
    if token.type in _CONSTANTS:
        kind, constant = _CONSTANTS[token.type]
        return Literal(constant, kind, text, span)
    try:
        if token.type == "NUMBER":
            if _INTEGER.fullmatch(text):
                return Literal(int(text), "integer", text, span)
            return Literal(float(text), "float", text, span)
        kind, parse = _UNIT_PARSERS[token.type]
        return Literal(parse(text), kind, text, span)
    except (UnitError, ValueError, ArithmeticError, KeyError):
        return Invalid(span, f"`{text}` is out of range", span)


def expr(child: Expr | Token) -> Expr:
    """A child of a rule: lark hands over literals as bare tokens."""
    return literal(child) if isinstance(child, Token) else child


def _cover(first: Expr | Token, last: Expr | Token) -> Span:
    start = first.span if not isinstance(first, Token) else token_span(first)
    end = last.span if not isinstance(last, Token) else token_span(last)
    return start.cover(end)


class Reference:
    """A name with its steps (`.field`, `["key"]`) while the parser is still reading it."""

    __slots__ = ("root", "root_span", "span", "steps")

    def __init__(self, root: str, root_span: Span, steps: tuple[tuple[str, bool, Span], ...]) -> None:
        self.root = root
        self.root_span = root_span
        self.steps = steps
        self.span = root_span.cover(steps[-1][2]) if steps else root_span


class RuleTransformer(Transformer[Token, Any]):
    """Callbacks for the LALR parser; each returns a syntax node (or a `Reference` still being read)."""

    def or_test(self, children: list[Any]) -> Expr:
        items = tuple(resolve(child) for child in children)
        return BoolOp("or", items, _cover(items[0], items[-1]))

    def and_test(self, children: list[Any]) -> Expr:
        items = tuple(resolve(child) for child in children)
        return BoolOp("and", items, _cover(items[0], items[-1]))

    def not_(self, children: list[Any]) -> Expr:
        keyword, operand = children
        node = resolve(operand)
        return Not(node, token_span(keyword).cover(node.span))

    def compare(self, children: list[Any]) -> Expr:
        left, op, right = resolve(children[0]), children[1], resolve(children[2])
        return Compare(" ".join(str(op).split()), left, right, left.span.cover(right.span), token_span(op))

    def list_value(self, children: list[Any]) -> Expr:
        opening, *items, closing = children
        return ListExpr(tuple(resolve(item) for item in items), token_span(opening).cover(token_span(closing)))

    def call(self, children: list[Any]) -> Expr:
        name, *args, closing = children
        span = token_span(name)
        return Call(str(name), tuple(resolve(arg) for arg in args), span.cover(token_span(closing)), span)

    def name(self, children: list[Any]) -> Reference:
        return Reference(str(children[0]), token_span(children[0]), ())

    def field(self, children: list[Any]) -> Reference:
        base, token = children
        return Reference(base.root, base.root_span, (*base.steps, (str(token), False, token_span(token))))

    def index(self, children: list[Any]) -> Reference:
        base, token = children
        key = unescape(str(token)[1:-1])
        step = (key, True, Span(int(token.start_pos or 0), len(token) + 1))
        return Reference(base.root, base.root_span, (*base.steps, step))


def resolve(child: Any) -> Expr:
    """A finished operand: literals from tokens, names to what they refer to."""
    if isinstance(child, Reference):
        return _resolve(child)
    return expr(child)


def _resolve(ref: Reference) -> Expr:
    root, steps, span = ref.root, ref.steps, ref.span
    if root in KNOWN:
        if steps:
            return Invalid(span, f"`{root}` has no fields", steps[0][2])
        return Attribute(root, span)
    if root == "headers":
        return _header(ref)
    if root == "metadata":
        if not steps:
            return Invalid(span, "`metadata` needs a name", span, "write metadata.NAME")
        return Metadata(tuple(step[0] for step in steps), False, span, span)
    if root in FUNCTIONS and not steps:
        return Invalid(span, f"`{root}` is a function", span, f"write {FUNCTIONS[root].example}")
    if root.lower() in _MISSPELLED_VALUES and not steps:
        return Invalid(span, f"`{root}` is not a value", span, f"write `{_MISSPELLED_VALUES[root.lower()]}`")
    return Metadata((root, *(step[0] for step in steps)), True, span, ref.root_span)


def _header(ref: Reference) -> Expr:
    span, steps = ref.span, ref.steps
    example = 'write headers["x-name"]'
    if not steps:
        return Invalid(span, "`headers` needs a header name", span, example)
    key, is_index, key_span = steps[0]
    if not is_index:
        return Invalid(span, "header names go in brackets", key_span, f'write headers["{key}"]')
    if len(steps) > 1:
        return Invalid(span, "a header has no fields", steps[1][2])
    if not key:
        return Invalid(span, "empty header name", key_span, example)
    return Header(key.lower(), span)
