"""The rule's syntax tree after parsing: small frozen nodes, each with its span in the rule text.

Nodes compare by identity, so a type checker can key a dict by node.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelmux.dsl.diagnostics import Span


@dataclass(frozen=True, slots=True, eq=False)
class Literal:
    value: object  # str, int, float, bool, None, Decimal; durations in seconds, sizes in bytes
    kind: str  # string, integer, float, bool, null, duration, size, money, percentage
    text: str
    span: Span


@dataclass(frozen=True, slots=True, eq=False)
class ListExpr:
    items: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True, slots=True, eq=False)
class Attribute:
    """A request attribute the runtime always knows (`model`, `latency`, ...)."""

    name: str
    span: Span


@dataclass(frozen=True, slots=True, eq=False)
class Header:
    """`headers["x-name"]`; the key is lower-cased."""

    key: str
    span: Span


@dataclass(frozen=True, slots=True, eq=False)
class Metadata:
    """`metadata.a.b`, `metadata["a-b"]`, or a bare unknown name (`bare=True`)."""

    path: tuple[str, ...]
    bare: bool
    span: Span
    name_span: Span


@dataclass(frozen=True, slots=True, eq=False)
class Invalid:
    """Something the parser accepted but that means nothing (`headers.x`, `True`); it carries its error."""

    span: Span
    message: str
    where: Span
    hint: str | None = None


@dataclass(frozen=True, slots=True, eq=False)
class Call:
    name: str
    args: tuple[Expr, ...]
    span: Span
    name_span: Span


@dataclass(frozen=True, slots=True, eq=False)
class Compare:
    op: str  # == != < <= > >= in "not in" matches contains starts_with
    left: Expr
    right: Expr
    span: Span
    op_span: Span


@dataclass(frozen=True, slots=True, eq=False)
class Not:
    operand: Expr
    span: Span


@dataclass(frozen=True, slots=True, eq=False)
class BoolOp:
    op: str  # and, or
    items: tuple[Expr, ...]
    span: Span


Reference = Attribute | Header | Metadata
Expr = Literal | ListExpr | Attribute | Header | Metadata | Invalid | Call | Compare | Not | BoolOp


def source(text: str, node: Expr, limit: int = 40) -> str:
    """The node as the user wrote it, shortened for a message."""
    raw = " ".join(text[node.span.offset : node.span.end].split())
    return raw if len(raw) <= limit else raw[: limit - 3] + "..."
