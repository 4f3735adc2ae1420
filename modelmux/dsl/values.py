"""Run-time helpers for compiled rules: reading metadata and comparing values that may be of any type.

A metadata value is read as the type of what it is compared with: "3" as a number, "true"/"yes"/"1"/"on"
as a boolean, "100ms" as a duration, "$0.50" as money, "80%" as a percentage (header values are text).
Nothing here raises for any input: a value of the wrong type makes a test false (`!=` and `not in`
are the negations of `==` and `in`, so they are true for it).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from modelmux.units import UnitError, parse_duration, parse_money, parse_percent, parse_size


class _Missing:
    """A value that could not be read as the type a test needs; equal to nothing, ordered with nothing."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()
Coerce = Callable[[object], object]
_PLAIN_NUMBER = re.compile(r"\s*-?\d+(\.\d+)?\s*")
_TRUE_WORDS = frozenset({"true", "yes", "1", "on"})
_FALSE_WORDS = frozenset({"false", "no", "0", "off"})


def read_path(value: object, path: tuple[str, ...]) -> object:
    """`value[a][b]...` through nested mappings; None where a step is missing."""
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def to_number(value: object) -> object:
    if value is None or _is_number(value):
        return value
    if isinstance(value, Decimal) and value.is_finite():
        return float(value)
    if isinstance(value, str) and _PLAIN_NUMBER.fullmatch(value):
        return float(value)
    return MISSING


def to_bool(value: object) -> object:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
    return MISSING


def to_string(value: object) -> object:
    return value if value is None or isinstance(value, str) else MISSING


def to_list(value: object) -> object:
    if value is None or isinstance(value, tuple):
        return value
    return tuple(value) if isinstance(value, list) else MISSING


def _unit(parse: Callable[[object], object], scale: Callable[[float], object]) -> Coerce:
    def coerce(value: object) -> object:
        if value is None:
            return None
        if _is_number(value):
            number = float(value)  # type: ignore[arg-type]
            return scale(number) if math.isfinite(number) else MISSING
        if isinstance(value, str):
            try:
                return parse(value)
            except (UnitError, ValueError, ArithmeticError):
                return MISSING
        return MISSING

    return coerce


def _money(value: object) -> object:
    if isinstance(value, Decimal):
        return value if value.is_finite() else MISSING
    if isinstance(value, str) and _PLAIN_NUMBER.fullmatch(value):
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            return MISSING
    return _unit(parse_money, lambda number: Decimal(str(number)))(value)


COERCIONS: dict[str, Coerce] = {
    "string": to_string,
    "integer": to_number,
    "float": to_number,
    "bool": to_bool,
    "list": to_list,
    "duration": _unit(parse_duration, float),
    "size": _unit(parse_size, float),
    "money": _money,
    "percentage": _unit(parse_percent, float),
}


def equal(left: object, right: object) -> bool:
    """`==` for values of any type: a boolean never equals a number, a list equals a tuple."""
    if isinstance(left, bool) != isinstance(right, bool):
        return False
    if isinstance(left, list):
        left = tuple(left)
    if isinstance(right, list):
        right = tuple(right)
    try:
        return bool(left == right)
    except (TypeError, ValueError, ArithmeticError):
        return False


def ordered(compare: Callable[[Any, Any], object]) -> Callable[[object, object], bool]:
    """An ordering test that is false for null, booleans, and values that do not order."""

    def test(left: object, right: object) -> bool:
        if left is None or right is None or isinstance(left, bool) or isinstance(right, bool):
            return False
        try:
            return compare(left, right) is True
        except (TypeError, ValueError, ArithmeticError):
            return False

    return test


def member(value: object, container: object) -> bool:
    if not isinstance(container, list | tuple | set | frozenset):
        return False
    return any(equal(value, item) for item in container)


def contains(haystack: object, needle: object) -> bool:
    if isinstance(haystack, str):
        return isinstance(needle, str) and needle in haystack
    if isinstance(haystack, list | tuple):
        return any(equal(item, needle) for item in haystack)
    return False


def starts_with(text: object, prefix: object) -> bool:
    return isinstance(text, str) and isinstance(prefix, str) and text.startswith(prefix)
