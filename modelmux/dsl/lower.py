"""Lowering a type-checked rule to a predicate: plain closures, no parsing or type dispatch per call."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Hashable, Mapping
from typing import Any

from modelmux.dsl.ast import Attribute, BoolOp, Call, Compare, Expr, Header, ListExpr, Literal, Metadata, Not
from modelmux.dsl.attributes import Type
from modelmux.dsl.facts import RequestFacts
from modelmux.dsl.functions import FUNCTIONS
from modelmux.dsl.values import COERCIONS, contains, equal, member, ordered, read_path, starts_with, to_bool

Getter = Callable[[RequestFacts], object]
Predicate = Callable[[RequestFacts], bool]

_ORDERINGS: dict[str, Callable[[Any, Any], object]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


_SCALAR_KINDS = frozenset({"string", "integer", "float", "bool", "null", "duration", "size", "money", "percentage"})


def never(facts: RequestFacts) -> bool:
    return False


def always(facts: RequestFacts) -> bool:
    return True


def constant(value: object) -> Getter:
    return lambda facts: value


def all_of(predicates: list[Predicate]) -> Predicate:
    if len(predicates) == 2:
        first, second = predicates
        return lambda facts: first(facts) and second(facts)

    def run(facts: RequestFacts) -> bool:
        return all(predicate(facts) for predicate in predicates)

    return run


def any_of(predicates: list[Predicate]) -> Predicate:
    if len(predicates) == 2:
        first, second = predicates
        return lambda facts: first(facts) or second(facts)

    def run(facts: RequestFacts) -> bool:
        return any(predicate(facts) for predicate in predicates)

    return run


def negate(predicate: Predicate) -> Predicate:
    return lambda facts: not predicate(facts)


def _metadata(path: tuple[str, ...], coerce: Callable[[object], object] | None) -> Getter:
    first, rest = path[0], path[1:]

    def read(facts: RequestFacts) -> object:
        metadata = facts.metadata
        value = metadata.get(first) if isinstance(metadata, Mapping) else None
        return read_path(value, rest) if rest else value

    if coerce is None:
        return read
    return lambda facts: coerce(read(facts))


def _coerced(getter: Getter, target: Type) -> Getter:
    coerce = COERCIONS.get(target.kind)
    if coerce is None:
        return getter
    return lambda facts: coerce(getter(facts))


class Lowerer:
    """Turns the nodes of one rule into closures, using the types the checker inferred."""

    def __init__(self, types: Mapping[Expr, Type]) -> None:
        self.types = types

    def predicate(self, node: Expr) -> Predicate:
        match node:
            case BoolOp():
                parts = [self.predicate(item) for item in node.items]
                return all_of(parts) if node.op == "and" else any_of(parts)
            case Not():
                return negate(self.predicate(node.operand))
            case Compare():
                return self.compare(node)
            case Literal():
                return always if node.value is True else never
        getter = self.value(node)
        type_ = self.types[node]
        if type_.kind == "bool" and not type_.nullable:
            return getter  # type: ignore[return-value]
        return lambda facts: to_bool(getter(facts)) is True

    def value(self, node: Expr) -> Getter:
        match node:
            case Literal():
                return constant(node.value)
            case ListExpr():
                return self.list_value(node)
            case Attribute():
                return operator.attrgetter(node.name)
            case Header():
                key = node.key
                return lambda facts: facts.headers.get(key)
            case Metadata():
                declared = self.types[node]
                return _metadata(node.path, None if declared.is_open else COERCIONS.get(declared.kind))
            case Call():
                run = FUNCTIONS[node.name].run
                argument = self.value(node.args[0])
                return lambda facts: run(argument(facts))
        return self.predicate(node)

    def list_value(self, node: ListExpr) -> Getter:
        if all(isinstance(item, Literal) for item in node.items):
            return constant(tuple(item.value for item in node.items if isinstance(item, Literal)))
        getters = [self.value(item) for item in node.items]
        return lambda facts: tuple(getter(facts) for getter in getters)

    def operands(self, node: Compare) -> tuple[Getter, Getter]:
        """Both sides, a dynamic side read as the type of the other side."""
        left_type, right_type = self.types[node.left], self.types[node.right]
        left, right = self.value(node.left), self.value(node.right)
        if node.op in ("in", "not in"):
            target_left = (right_type.item or right_type) if right_type.kind == "list" else right_type
            target_right = Type("list") if not left_type.is_open else right_type
        elif node.op == "contains":
            target_left = left_type
            target_right = (left_type.item or left_type) if left_type.kind == "list" else left_type
        elif node.op in ("matches", "starts_with"):
            target_left = target_right = Type("string")
        else:
            target_left, target_right = right_type, left_type
        if left_type.is_open and not target_left.is_open:
            left = _coerced(left, target_left)
        if right_type.is_open and not target_right.is_open:
            right = _coerced(right, target_right)
        return left, right

    def compare(self, node: Compare) -> Predicate:
        left, right = self.operands(node)
        op = node.op
        if op in ("!=", "not in"):
            return negate(self.test(node, "==" if op == "!=" else "in", left, right))
        return self.test(node, op, left, right)

    def test(self, node: Compare, op: str, left: Getter, right: Getter) -> Predicate:
        if op == "==":
            return self.equality(node, left, right)
        if op in _ORDERINGS:
            test = ordered(_ORDERINGS[op])
            return lambda facts: test(left(facts), right(facts))
        if op == "in":
            return self.membership(node, left, right)
        if op == "matches":
            pattern = re.compile(str(node.right.value) if isinstance(node.right, Literal) else "")
            return lambda facts: isinstance(text := left(facts), str) and pattern.search(text) is not None
        if op == "contains":
            return lambda facts: contains(left(facts), right(facts))
        return lambda facts: starts_with(left(facts), right(facts))

    def scalar(self, node: Expr) -> bool:
        """Whether the node's values are plain, hashable scalars (no dynamic or list values)."""
        return self.types[node].kind in _SCALAR_KINDS

    def equality(self, node: Compare, left: Getter, right: Getter) -> Predicate:
        if not (self.scalar(node.left) and self.scalar(node.right)):
            return lambda facts: equal(left(facts), right(facts))
        if isinstance(node.right, Literal):
            value = node.right.value
            return lambda facts: left(facts) == value
        return lambda facts: left(facts) == right(facts)

    def membership(self, node: Compare, left: Getter, right: Getter) -> Predicate:
        items = node.right.items if isinstance(node.right, ListExpr) else None
        if self.scalar(node.left) and items is not None and all(isinstance(item, Literal) for item in items):
            values = [item.value for item in items if isinstance(item, Literal)]
            if all(isinstance(value, Hashable) for value in values):
                allowed = frozenset(values)
                return lambda facts: left(facts) in allowed
        return lambda facts: member(left(facts), right(facts))
