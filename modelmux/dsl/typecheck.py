"""Type checking a rule: every ill-typed comparison is a compile error with its place in the text."""

from __future__ import annotations

import re
from collections.abc import Mapping

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
    source,
)
from modelmux.dsl.attributes import (
    ANY,
    BOOL,
    ERROR,
    HEADER,
    KNOWN,
    ORDERED_FAMILIES,
    STRING,
    UNIT_KINDS,
    Type,
    did_you_mean,
)
from modelmux.dsl.diagnostics import RuleDiagnostic, Span, error, warning
from modelmux.dsl.functions import FUNCTIONS
from modelmux.units import EXAMPLES, UnitKind

MAX_DEPTH = 64
ORDERING = ("<", "<=", ">", ">=")
_ORDERING_HINT = "`<`, `<=`, `>` and `>=` compare numbers, durations, sizes, money and percentages"
_ARTICLES = {"duration": "a duration", "size": "a size", "money": "money", "percentage": "a percentage"}
_EXAMPLE_VALUES = {
    "string": '"text"',
    "integer": "100",
    "float": "0.5",
    "duration": "100ms",
    "size": "10MB",
    "money": "$1",
    "percentage": "80%",
}


def unit_suggestion(kind: str, number: str) -> str:
    """How to write a bare number as a literal of a unit kind."""
    return {
        "duration": f"{number}ms or {number}s",
        "size": f"{number}KB or {number}MB",
        "money": f"${number}",
        "percentage": f"{number}%",
    }[kind]


class _TooDeep(Exception):
    """The rule nests more than MAX_DEPTH levels; later stages recurse, so it is refused."""


class TypeChecker:
    """Infers the type of every node of one rule and reports what does not fit."""

    def __init__(self, text: str, declared: Mapping[str, Type]) -> None:
        self.text = text
        self.declared = declared
        self.types: dict[Expr, Type] = {}
        self.diagnostics: list[RuleDiagnostic] = []
        self.unknown: list[tuple[str, int, int]] = []
        self.depth = 0

    def check_rule(self, node: Expr) -> None:
        try:
            self.condition(node, "rule must be a condition")
        except _TooDeep:
            message = f"rule nests too deeply (more than {MAX_DEPTH} levels)"
            self.diagnostics = [error(message, Span(0, max(len(self.text), 1)))]

    def infer(self, node: Expr) -> Type:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _TooDeep
        type_ = self._infer(node)
        self.types[node] = type_
        self.depth -= 1
        return type_

    def _infer(self, node: Expr) -> Type:
        match node:
            case Literal():
                return Type(node.kind, nullable=node.kind == "null")
            case ListExpr():
                return self.list_type(node)
            case Attribute():
                return KNOWN[node.name]
            case Header():
                return HEADER
            case Metadata():
                return self.metadata(node)
            case Invalid():
                self.error(node.message, node.where, node.hint)
                return ERROR
            case Call():
                return self.call(node)
            case Compare():
                self.compare(node)
            case Not():
                self.condition(node.operand, "`not` needs a condition")
            case BoolOp():
                for item in node.items:
                    self.condition(item, f"`{node.op}` needs conditions on both sides")
        return BOOL

    def condition(self, node: Expr, message: str) -> None:
        type_ = self.infer(node)
        if not type_.is_condition:
            example = self.example(node, type_)
            hint = f"{self.src(node)} is {self.a(type_)}; compare it with a value, e.g. {example}"
            self.error(message, node.span, hint)

    def metadata(self, node: Metadata) -> Type:
        name = ".".join(node.path)
        if name in self.declared:
            return self.declared[name]
        if node.bare and all(seen != name for seen, _, _ in self.unknown):
            self.unknown.append((name, node.span.offset, node.span.length))
            hint = did_you_mean(node.path[0], [*KNOWN, *self.declared])
            if hint is not None:
                message = f"unknown attribute `{node.path[0]}` is read from metadata"
                self.diagnostics.append(warning(message, node.name_span, hint))
        return ANY

    def list_type(self, node: ListExpr) -> Type:
        items = [(item, self.infer(item)) for item in node.items]
        common: Type | None = None
        nullable = False
        for item, type_ in items:
            if type_.kind == "list":
                self.error("lists cannot contain lists", item.span)
                return Type("list", item=ERROR)
            if type_.is_open:
                return Type("list", item=ANY)
            if type_.kind == "null":
                nullable = True
            elif common is None or (common.kind == "integer" and type_.kind == "float"):
                common = type_
            elif common.family != type_.family:
                message = f"list mixes {common.describe()} and {type_.describe()}"
                self.error(message, item.span, "a list holds values of one type")
                return Type("list", item=ERROR)
        item_type = ANY if common is None else Type(common.kind, nullable=nullable)
        return Type("list", item=item_type)

    def call(self, node: Call) -> Type:
        args = [self.infer(arg) for arg in node.args]
        function = FUNCTIONS.get(node.name)
        if function is None:
            hint = did_you_mean(node.name, FUNCTIONS) or f"the functions are {', '.join(FUNCTIONS)}"
            self.error(f"unknown function `{node.name}`", node.name_span, hint)
            return ERROR
        if len(args) != 1:
            self.error(f"`{node.name}` takes 1 argument, got {len(args)}", node.span)
            return ERROR
        arg = args[0]
        if not arg.is_open and arg.kind not in function.accepts:
            message = f"`{node.name}` needs {function.needs}, not {self.src(node.args[0])} ({arg.describe()})"
            self.error(message, node.args[0].span)
            return ERROR
        return function.result(arg)

    def compare(self, node: Compare) -> None:
        left, right = self.infer(node.left), self.infer(node.right)
        if left.kind == "error" or right.kind == "error":
            return
        if node.op in ("==", "!="):
            self.equality(node, left, right)
        elif node.op in ORDERING:
            self.ordering(node, left, right)
        elif node.op in ("in", "not in"):
            self.membership(node, left, right)
        elif node.op == "matches":
            self.regex(node, left)
        else:
            self.text_test(node, left, right)

    def equality(self, node: Compare, left: Type, right: Type) -> None:
        if left.is_open or right.is_open:
            return
        if left.kind == "null" or right.kind == "null":
            other, other_type = (node.right, right) if left.kind == "null" else (node.left, left)
            if not other_type.nullable and not isinstance(other, Literal):
                self.diagnostics.append(warning(f"{self.src(other)} is never null", node.span))
            return
        if left.family != right.family:
            self.mismatch(node, (node.left, left), (node.right, right))

    def ordering(self, node: Compare, left: Type, right: Type) -> None:
        if left.kind == "null" or right.kind == "null":
            self.error(f"cannot use `{node.op}` on null", node.span, "compare with null using == or !=")
            return
        if not (left.is_open or right.is_open) and left.family != right.family:
            self.mismatch(node, (node.left, left), (node.right, right))
            return
        for side, type_ in ((node.left, left), (node.right, right)):
            if not type_.is_open and type_.family not in ORDERED_FAMILIES:
                message = f"cannot use `{node.op}` on {self.src(side)} ({type_.describe()})"
                self.error(message, node.span, _ORDERING_HINT)
                return

    def membership(self, node: Compare, left: Type, right: Type) -> None:
        if right.is_open:
            return
        if right.kind != "list":
            hint = "use `contains` to look for text" if right.kind == "string" else 'write a list: ["a", "b"]'
            message = f"`{node.op}` needs a list on the right, not {self.src(node.right)} ({right.describe()})"
            self.error(message, node.right.span, hint)
            return
        item = right.item or ANY
        if left.is_open or item.is_open or left.kind == "null" or left.family == item.family:
            return
        items = node.right.items if isinstance(node.right, ListExpr) else ()
        for element in items:
            element_type = self.types[element]
            if element_type.kind != "null" and element_type.family != left.family:
                self.mismatch(node, (node.left, left), (element, element_type))
                return
        self.mismatch(node, (node.left, left), (node.right, right))

    def regex(self, node: Compare, left: Type) -> None:
        if not left.is_open and left.kind != "string":
            message = f"`matches` needs text on the left, not {self.src(node.left)} ({left.describe()})"
            self.error(message, node.span)
            return
        pattern = node.right
        if not (isinstance(pattern, Literal) and isinstance(pattern.value, str)):
            self.error("`matches` needs a regular expression in quotes", pattern.span, 'e.g. "^gpt-4"')
            return
        try:
            re.compile(pattern.value)
        except (re.error, OverflowError, RecursionError, ValueError) as exc:
            detail = exc.msg if isinstance(exc, re.error) else str(exc)
            self.error(f"invalid regular expression: {detail}", pattern.span)

    def text_test(self, node: Compare, left: Type, right: Type) -> None:
        allowed = ("string", "list") if node.op == "contains" else ("string",)
        if not left.is_open and left.kind not in allowed:
            wanted = "text or a list" if node.op == "contains" else "text"
            message = f"`{node.op}` needs {wanted} on the left, not {self.src(node.left)} ({left.describe()})"
            self.error(message, node.span)
            return
        if left.is_open or right.is_open or right.kind == "null":
            return
        expected = (left.item or ANY) if left.kind == "list" else STRING
        if not expected.is_open and expected.family != right.family:
            self.mismatch(node, (node.left, left), (node.right, right))

    def mismatch(self, node: Compare, left: tuple[Expr, Type], right: tuple[Expr, Type]) -> None:
        for (unit_node, unit), (other_node, other) in ((left, right), (right, left)):
            if unit.kind in UNIT_KINDS and isinstance(other_node, Literal) and other.family == "number":
                message = f"{self.src(unit_node)} is {_ARTICLES[unit.kind]}; write "
                message += unit_suggestion(unit.kind, other_node.text)
                self.error(message, other_node.span, "expected " + EXAMPLES[UnitKind(unit.kind)])
                return
        hint = None
        for side_node, side in (left, right):
            if side.kind == "bool" and not isinstance(side_node, Literal):
                hint = f"write {self.src(side_node)} == true or {self.src(side_node)} == false"
            elif side.kind in UNIT_KINDS:
                hint = "expected " + EXAMPLES[UnitKind(side.kind)]
        (left_node, left_type), (right_node, right_type) = left, right
        message = f"cannot compare {self.src(left_node)} ({left_type.describe()}) with "
        message += f"{self.src(right_node)} ({right_type.describe()})"
        self.error(message, node.span, hint)

    def src(self, node: Expr) -> str:
        return source(self.text, node)

    def a(self, type_: Type) -> str:
        name = type_.describe()
        if name in ("money", "null", "any value"):
            return name
        return ("an " if name[0] in "aeiou" else "a ") + name

    def example(self, node: Expr, type_: Type) -> str:
        if type_.kind == "list":
            return f"len({self.src(node)}) > 0"
        return f"{self.src(node)} == {_EXAMPLE_VALUES.get(type_.kind, 'null')}"

    def error(self, message: str, span: Span, hint: str | None = None) -> None:
        self.diagnostics.append(error(message, span, hint))
