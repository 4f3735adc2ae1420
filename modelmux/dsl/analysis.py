"""Reasoning about compiled conditions: rules that can never match, rules that an earlier one shadows,
and the model names a rule is limited to.

Both questions are answered soundly, not completely: True only when it is proven.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from modelmux.dsl.ast import Attribute, BoolOp, Compare, Expr, ListExpr, Literal
from modelmux.dsl.condition import Atom, Clause, Condition
from modelmux.dsl.values import contains, equal, ordered, starts_with

_ORDER_TESTS: dict[str, Callable[[object, object], bool]] = {
    "<": ordered(operator.lt),
    "<=": ordered(operator.le),
    ">": ordered(operator.gt),
    ">=": ordered(operator.ge),
}


def holds(atom: Atom, value: object) -> bool:
    """Whether the atom's test (ignoring its sign) is true of the subject having `value`."""
    op, expected = atom.op, atom.value
    if op == "==":
        return equal(value, expected)
    if op in _ORDER_TESTS:
        return _ORDER_TESTS[op](value, expected)
    if op == "in":
        return isinstance(expected, frozenset) and any(equal(value, item) for item in expected)
    if op == "matches":
        return isinstance(value, str) and re.search(str(expected), value) is not None
    if op == "contains":
        return contains(value, expected)
    return starts_with(value, expected)


@dataclass(frozen=True, slots=True)
class Bounds:
    """The interval the ordering atoms of a clause allow; None ends are open."""

    low: object = None
    low_strict: bool = False
    high: object = None
    high_strict: bool = False

    def admits(self, value: object) -> bool:
        if self.low is not None and not _ORDER_TESTS[">" if self.low_strict else ">="](value, self.low):
            return False
        return self.high is None or _ORDER_TESTS["<" if self.high_strict else "<="](value, self.high)

    def empty(self) -> bool:
        if self.low is None or self.high is None:
            return False
        if self.low_strict:
            return not _ORDER_TESTS["<"](self.low, self.high)
        return not self.admits(self.low)

    def within(self, op: str, value: object) -> bool:
        """Whether every value in the interval passes `subject op value`."""
        if op in ("<", "<="):
            if self.high is None:
                return False
            strict = op == "<" and not self.high_strict
            return _ORDER_TESTS["<" if strict else "<="](self.high, value)
        if self.low is None:
            return False
        strict = op == ">" and not self.low_strict
        return _ORDER_TESTS[">" if strict else ">="](self.low, value)


_NEGATED_ORDER = {"<": ">=", "<=": ">", ">": "<=", ">=": "<"}
_MAX_CASES = 32
_CACHE_SIZE = 65536


def bounds(atoms: Iterable[Atom]) -> Bounds:
    result = Bounds()
    for atom in atoms:
        if atom.op not in _NEGATED_ORDER or (not atom.positive and atom.nullable):
            continue
        op = atom.op if atom.positive else _NEGATED_ORDER[atom.op]
        result = _tighten(result, op, atom.value)
    return result


def _tighten(current: Bounds, op: str, value: object) -> Bounds:
    strict = op in ("<", ">")
    if op in ("<", "<="):
        if current.high is None or _ORDER_TESTS["<"](value, current.high):
            return Bounds(current.low, current.low_strict, value, strict)
        if equal(value, current.high):
            return Bounds(current.low, current.low_strict, current.high, current.high_strict or strict)
        return current
    if current.low is None or _ORDER_TESTS[">"](value, current.low):
        return Bounds(value, strict, current.high, current.high_strict)
    if equal(value, current.low):
        return Bounds(current.low, current.low_strict or strict, current.high, current.high_strict)
    return current


def _requires_value(atom: Atom) -> bool:
    """A true atom that proves its subject is not null."""
    if not atom.positive or atom.kind in ("null", "test"):
        return False
    if atom.op == "in":
        return isinstance(atom.value, frozenset) and None not in atom.value
    return atom.value is not None


def _candidates(group: list[Atom]) -> set[object] | None:
    """The only values the group's `==` and `in` atoms leave possible, if they pin any down."""
    found: set[object] | None = None
    for atom in group:
        if not atom.positive or atom.op not in ("==", "in"):
            continue
        values = set(atom.value) if atom.op == "in" and isinstance(atom.value, frozenset) else {atom.value}
        found = values if found is None else found & values
    if found is None:
        return None
    return {value for value in found if all(holds(atom, value) == atom.positive for atom in group)}


def _groups(clause: Clause) -> dict[tuple[str, str], list[Atom]]:
    groups: dict[tuple[str, str], list[Atom]] = {}
    for atom in clause:
        if atom.kind != "test":
            groups.setdefault((atom.subject, atom.kind), []).append(atom)
    return groups


@functools.lru_cache(maxsize=_CACHE_SIZE)
def satisfiable(clause: Clause) -> bool:
    """False only when no request can make every atom of the clause true."""
    if any(atom.negated() in clause for atom in clause):
        return False
    groups = _groups(clause)
    for (subject, kind), group in groups.items():
        if kind == "null" and any(atom.positive for atom in group):
            others = (atom for atom in clause if atom.subject == subject and atom.kind != "null")
            if any(_requires_value(atom) for atom in others):
                return False
            continue
        candidates = _candidates(group)
        if candidates is not None and not candidates:
            return False
        limits = bounds(group)
        if limits.empty():
            return False
        excluded = [atom.value for atom in group if atom.op == "==" and not atom.positive]
        point = limits.low is not None and equal(limits.low, limits.high) and not limits.low_strict
        if point and any(equal(limits.low, value) for value in excluded):
            return False
    return True


def implies(clause: Clause, target: Atom) -> bool:
    """Whether every request satisfying the clause satisfies the atom (sound, not complete)."""
    if target in clause:
        return True
    if target.kind == "test":
        return False
    if target.kind == "null":
        if target.positive:
            return False
        return any(_requires_value(atom) for atom in clause if atom.subject == target.subject)
    group = [atom for atom in clause if atom.subject == target.subject and atom.kind == target.kind]
    candidates = _candidates(group)
    if candidates is not None:
        return all(holds(target, value) == target.positive for value in candidates)
    limits = bounds(group)
    if limits.low is None and limits.high is None:
        return False
    if target.op in _NEGATED_ORDER:
        return limits.within(target.op if target.positive else _NEGATED_ORDER[target.op], target.value)
    if target.positive:
        return False
    if target.op == "==":
        return not limits.admits(target.value)
    if target.op == "in" and isinstance(target.value, frozenset):
        return not any(limits.admits(value) for value in target.value)
    return False


def never_matches_condition(condition: Condition | None) -> bool:
    if condition is None or condition.clauses is None:
        return False
    return not any(satisfiable(clause) for clause in condition.clauses)


def shadows_condition(earlier: Condition | None, later: Condition | None) -> bool:
    if earlier is None or later is None:
        return False
    if earlier.canonical == later.canonical or (earlier.clauses is not None and frozenset() in earlier.clauses):
        return True
    if earlier.clauses is None or later.clauses is None:
        return False
    options = earlier.clauses
    return all(_covered(case, options) for clause in later.clauses for case in _cases(clause))


def _covered(clause: Clause, options: tuple[Clause, ...]) -> bool:
    if not satisfiable(clause):
        return True
    return any(all(implies(clause, atom) for atom in option) for option in options)


def _cases(clause: Clause) -> list[Clause]:
    """The clause split by the values one of its `in` atoms allows (`model in ["a", "b"]`), if any."""
    for atom in clause:
        if atom.positive and atom.op == "in" and isinstance(atom.value, frozenset):
            group = [other for other in clause if other.subject == atom.subject and other.kind == atom.kind]
            values = _candidates(group) or set()
            if 1 < len(values) <= _MAX_CASES:
                return [clause | {Atom(atom.subject, atom.kind, "==", value, atom.nullable)} for value in values]
    return [clause]


def model_names(node: Expr) -> frozenset[str] | None:
    """The model names a condition limits requests to, when it does (`model == "x"`, `model in [...]`)."""
    if isinstance(node, Literal) and node.value is False:
        return frozenset()
    if isinstance(node, Compare):
        return _compared_models(node)
    if not isinstance(node, BoolOp):
        return None
    parts = [model_names(item) for item in node.items]
    if node.op == "or":
        names: set[str] = set()
        for part in parts:
            if part is None:
                return None
            names |= part
        return frozenset(names)
    known = [part for part in parts if part is not None]
    return frozenset.intersection(*known) if known else None


def _compared_models(node: Compare) -> frozenset[str] | None:
    left, right = node.left, node.right
    if node.op == "==" and isinstance(left, Literal) and isinstance(right, Attribute):
        left, right = right, left
    if not (isinstance(left, Attribute) and left.name == "model"):
        return None
    if node.op == "==" and isinstance(right, Literal) and isinstance(right.value, str):
        return frozenset({right.value})
    if node.op == "in" and isinstance(right, ListExpr):
        values = [item.value for item in right.items if isinstance(item, Literal)]
        if len(values) == len(right.items) and all(isinstance(value, str) for value in values):
            return frozenset(str(value) for value in values)
    return None
