"""Friendly messages for syntax errors, from lark's exception and a look at the text around it."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from modelmux.dsl.attributes import KEYWORDS
from modelmux.dsl.diagnostics import RuleDiagnostic, Span, error
from modelmux.units import DURATION_UNITS, SIZE_UNITS

_TOKEN = re.compile(
    r"""
      "(?:[^"\\\n]|\\.)*"? | '(?:[^'\\\n]|\\.)*'?
    | \$?-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[A-Za-z_%]*
    | [A-Za-z_]\w*
    | == | != | <= | >= | && | \|\|
    | \S
    """,
    re.VERBOSE,
)
_NUMBER_WITH_SUFFIX = re.compile(r"-?\d+(?:\.\d+)?(?P<unit>[A-Za-z_]\w*)")
_NEEDS_VALUE_AFTER = frozenset(
    {"and", "or", "not", "in", "matches", "contains", "starts_with", "==", "!=", "<", "<=", ">", ">="} | {"(", "[", ","}
)
_COMPARISONS = frozenset({"EQ", "NE", "LT", "LE", "GT", "GE", "IN", "NOT_IN", "MATCHES", "CONTAINS", "STARTS_WITH"})
_CLOSERS = {"(": ")", "[": "]"}
_UNITS = frozenset(DURATION_UNITS) | frozenset(SIZE_UNITS)
UNIT_HINT = "durations use ms, s, m, h or d; sizes use B, KB, MB, GB, KiB, MiB or GiB"
_CHARACTER_MISTAKES = (
    ("&&", "unexpected `&&`; did you mean `and`?"),
    ("||", "unexpected `||`; did you mean `or`?"),
    ("&", "unexpected `&`; did you mean `and`?"),
    ("|", "unexpected `|`; did you mean `or`?"),
    ("=>", "unexpected `=>`; did you mean `>=`?"),
    ("=<", "unexpected `=<`; did you mean `<=`?"),
    ("=", "unexpected `=`; did you mean `==`?"),
    ("!", "unexpected `!`; did you mean `not`?"),
)
_SMART_QUOTES = "\u201c\u201d\u2018\u2019"


@dataclass(frozen=True, slots=True)
class _Token:
    text: str
    offset: int

    @property
    def span(self) -> Span:
        return Span(self.offset, len(self.text))

    def shown(self) -> str:
        return self.text if len(self.text) <= 30 else self.text[:27] + "..."


def describe_syntax_error(text: str, exc: UnexpectedInput) -> RuleDiagnostic:
    """One diagnostic for the first syntax error lark found in `text`."""
    if isinstance(exc, UnexpectedCharacters):
        return _bad_character(text, int(exc.pos_in_stream or 0))
    if isinstance(exc, UnexpectedToken) and exc.token.type != "$END":
        expected = frozenset(str(name) for name in (exc.expected or ()))
        return _bad_token(text, _Token(str(exc.token), exc.token.start_pos), exc.token.type, expected)
    return _early_end(text)


def _tokens(text: str, end: int | None = None) -> list[_Token]:
    return [_Token(m.group(), m.start()) for m in _TOKEN.finditer(text, 0, len(text) if end is None else end)]


def _bad_character(text: str, pos: int) -> RuleDiagnostic:
    rest = text[pos:]
    char = rest[:1]
    if char in ("'", '"'):
        line_end = text.find("\n", pos)
        length = (len(text) if line_end == -1 else line_end) - pos
        return error("unterminated string", Span(pos, length), f"close it with {char}")
    for mistake, message in _CHARACTER_MISTAKES:
        if rest.startswith(mistake):
            return error(message, Span(pos, len(mistake)))
    number = _NUMBER_WITH_SUFFIX.match(rest)
    if number is not None:
        return _bad_unit(pos, number.group(), number["unit"])
    if char == "$":
        return error("expected an amount after `$`", Span(pos, 1), "write money as $1000 or $0.50")
    if char in _SMART_QUOTES:
        return error(f"unexpected character `{char}`", Span(pos, 1), "use straight quotes: \" or '")
    return error(f"unexpected character `{char}`", Span(pos, 1))


def _bad_unit(pos: int, literal: str, unit: str) -> RuleDiagnostic:
    span = Span(pos, len(literal))
    if literal.startswith("-") and unit in _UNITS:
        return error(f"`{literal}` cannot be negative", span)
    return error(f"unknown unit `{unit}` in `{literal}`", span, UNIT_HINT)


def _early_end(text: str) -> RuleDiagnostic:
    tokens = _tokens(text)
    if not tokens:
        return error("empty rule", Span(0, 1))
    last = tokens[-1]
    if last.text in _NEEDS_VALUE_AFTER:
        return error(f"expected a value after `{last.text}`", last.span)
    unclosed = _unclosed(tokens)
    if unclosed is not None:
        return error(f"`{unclosed.text}` is never closed", unclosed.span, f"add `{_CLOSERS[unclosed.text]}`")
    return error("unexpected end of rule", last.span)


def _unclosed(tokens: list[_Token]) -> _Token | None:
    stack: list[_Token] = []
    for token in tokens:
        if token.text in _CLOSERS:
            stack.append(token)
        elif token.text in (")", "]") and stack and _CLOSERS[stack[-1].text] == token.text:
            stack.pop()
    return stack[-1] if stack else None


def _bad_token(text: str, token: _Token, kind: str, expected: frozenset[str]) -> RuleDiagnostic:
    before = _tokens(text, token.offset)
    prev = before[-1] if before else None
    found = f"`{token.shown()}`"
    if prev is not None and prev.text in _NEEDS_VALUE_AFTER:
        return error(f"expected a value after `{prev.text}`, found {found}", token.span)
    if prev is not None and kind == "NAME" and token.text in _UNITS and _is_number(prev.text):
        hint = f"write {prev.text}{token.text}"
        return error(f"unexpected space between `{prev.text}` and `{token.text}`", token.span, hint)
    if prev is not None and prev.text == "." and token.text in KEYWORDS:
        base = _tokens(text, prev.offset)
        owner = base[-1].text if base else "metadata"
        hint = f'write {owner}["{token.text}"]'
        return error(f"`{token.text}` is a keyword, not a name", token.span, hint)
    if kind in _COMPARISONS and "EQ" not in expected:
        return error("comparisons cannot be chained", token.span, "join them with `and`: a < b and b < c")
    if kind in ("RPAR", "RSQB"):
        return error(f"unexpected {found} with nothing to close", token.span)
    return error(f"unexpected {found}", token.span, _next_hint(token, kind, expected))


def _next_hint(token: _Token, kind: str, expected: frozenset[str]) -> str | None:
    if kind == "NAME":
        if token.text.lower() in KEYWORDS:
            return f"keywords are lower-case: `{token.text.lower()}`"
        close = difflib.get_close_matches(token.text, KEYWORDS, n=1, cutoff=0.6)
        if close:
            return f"did you mean `{close[0]}`?"
    if "EQ" in expected:
        return "expected an operator such as `==`, `in` or `and`"
    if "_AND" in expected or "_OR" in expected:
        return "join conditions with `and` or `or`"
    return None


def _is_number(text: str) -> bool:
    return re.fullmatch(r"-?\d+(?:\.\d+)?", text) is not None
