"""A rule's condition in a normal form for analysis: a disjunction of clauses, each a set of atoms.

An atom tests one subject (an attribute, a header, a metadata value or any other expression, printed
canonically) against a literal. A dynamic subject is read as the literal's kind, so atoms about the same
subject and kind talk about the same value. Atoms the analysis cannot look into are opaque (kind "test").
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

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
from modelmux.dsl.attributes import Type

MAX_CLAUSES = 256
_FLIPPED = {"==": "==", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_VALUE_OPS = frozenset({"==", "<", "<=", ">", ">=", "in", "matches", "contains", "starts_with"})


@dataclass(frozen=True, slots=True)
class Atom:
    subject: str
    kind: str  # the family the subject is compared in: string, number, bool, duration, ..., null, test
    op: str  # ==, <, <=, >, >=, in, matches, contains, starts_with
    value: object  # a literal value; a frozenset for `in`
    nullable: bool  # the subject may be null (or, when dynamic, not of `kind`)
    positive: bool = True

    def negated(self) -> Atom:
        return Atom(self.subject, self.kind, self.op, self.value, self.nullable, not self.positive)


Clause = frozenset[Atom]


@dataclass(frozen=True, slots=True)
class Condition:
    """`clauses` is None when the normal form would be too large to analyse."""

    canonical: str
    clauses: tuple[Clause, ...] | None


def to_condition(node: Expr, types: Mapping[Expr, Type]) -> Condition:
    clauses = _Normalizer(types).dnf(node, True)
    return Condition(canonical(node), None if clauses is None else tuple(dict.fromkeys(clauses)))


def canonical(node: Expr) -> str:
    """The node printed in one normal way: equal texts mean equal expressions."""
    match node:
        case Literal():
            return _literal_text(node)
        case ListExpr():
            return "[" + ", ".join(canonical(item) for item in node.items) + "]"
        case Attribute():
            return node.name
        case Header():
            return f"headers[{json.dumps(node.key)}]"
        case Metadata():
            return "metadata" + "".join(f"[{json.dumps(step)}]" for step in node.path)
        case Call():
            return f"{node.name}(" + ", ".join(canonical(arg) for arg in node.args) + ")"
        case Compare():
            return f"({canonical(node.left)} {node.op} {canonical(node.right)})"
        case Not():
            return f"(not {canonical(node.operand)})"
        case BoolOp():
            return "(" + f" {node.op} ".join(canonical(item) for item in node.items) + ")"
        case Invalid():
            return "<invalid>"


def _literal_text(node: Literal) -> str:
    if node.kind == "string":
        return json.dumps(node.value)
    if node.kind in ("bool", "null"):
        return node.text
    if node.kind in ("integer", "float"):
        return repr(float(node.text))
    return f"{node.value!r}:{node.kind}"


class _Normalizer:
    def __init__(self, types: Mapping[Expr, Type]) -> None:
        self.types = types

    def dnf(self, node: Expr, positive: bool) -> list[Clause] | None:
        match node:
            case BoolOp():
                if (node.op == "and") == positive:
                    return self.product(node.items, positive)
                return self.union(node.items, positive)
            case Not():
                return self.dnf(node.operand, not positive)
            case Literal() if node.kind == "bool":
                return [frozenset()] if node.value is positive else []
        atom = self.atom(node) if isinstance(node, Compare) else self.truth(node)
        return [frozenset({atom if positive else atom.negated()})]

    def product(self, items: tuple[Expr, ...], positive: bool) -> list[Clause] | None:
        clauses: list[Clause] = [frozenset()]
        if len(items) > MAX_CLAUSES:
            return None
        for item in items:
            part = self.dnf(item, positive)
            if part is None or len(clauses) * len(part) > MAX_CLAUSES:
                return None
            clauses = [c | p for c in clauses for p in part if not _contradicts(c, p)]
        return clauses

    def union(self, items: tuple[Expr, ...], positive: bool) -> list[Clause] | None:
        clauses: list[Clause] = []
        for item in items:
            part = self.dnf(item, positive)
            if part is None or len(clauses) + len(part) > MAX_CLAUSES:
                return None
            clauses.extend(part)
        return clauses

    def truth(self, node: Expr) -> Atom:
        """A condition that is not a comparison: it holds when its value is true."""
        type_ = self.types[node]
        return Atom(canonical(node), "bool", "==", True, type_.nullable or type_.is_open)

    def atom(self, node: Compare) -> Atom:
        if node.op in ("!=", "not in"):
            positive_op = "==" if node.op == "!=" else "in"
            return self.atom(Compare(positive_op, node.left, node.right, node.span, node.op_span)).negated()
        subject, op, value = node.left, node.op, node.right
        if _is_constant(subject) and not _is_constant(value) and op in _FLIPPED:
            subject, value, op = value, subject, _FLIPPED[op]
        if _is_constant(subject) or not _is_constant(value) or op not in _VALUE_OPS:
            return Atom(canonical(node), "test", "==", True, False)
        subject_type = self.types[subject]
        literal = _constant(value, op)
        kind = self.kind(subject_type, value)
        nullable = subject_type.nullable or subject_type.is_open
        if kind == "bool" and op == "==" and literal is False and not nullable:
            return Atom(canonical(subject), "bool", "==", True, False, positive=False)
        return Atom(canonical(subject), kind, op, literal, nullable)

    def kind(self, subject: Type, value: Expr) -> str:
        """The family the comparison happens in: the subject's own, or for a dynamic one the literal's."""
        value_type = self.types[value]
        if value_type.kind == "null":
            return "null"
        if not subject.is_open:
            return subject.family
        if value_type.kind == "list":
            item = value_type.item
            return "any" if item is None or item.is_open else item.family
        return value_type.family


def _is_constant(node: Expr) -> bool:
    if isinstance(node, ListExpr):
        return all(isinstance(item, Literal) for item in node.items)
    return isinstance(node, Literal)


def _constant(node: Expr, op: str) -> object:
    if isinstance(node, ListExpr):
        values = [item.value for item in node.items if isinstance(item, Literal)]
        return frozenset(values) if op == "in" else tuple(values)
    return node.value if isinstance(node, Literal) else None


def _contradicts(left: Clause, right: Clause) -> bool:
    small, large = (left, right) if len(left) <= len(right) else (right, left)
    return any(atom.negated() in large for atom in small)
