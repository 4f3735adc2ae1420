"""Unit literals shared by YAML values and the rule language.

Durations (`250ms`, `30s`, `5m`, `1h`, `1d`) become seconds, sizes (`10MB`, `512KiB`) bytes, money
(`$1000`, `$0.50`) a Decimal of dollars, percentages (`80%`) a fraction. A bare number where a unit
is needed is an error that names the units that fit.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from enum import StrEnum


class UnitKind(StrEnum):
    DURATION = "duration"
    SIZE = "size"
    MONEY = "money"
    PERCENT = "percentage"


class UnitError(ValueError):
    """A literal that is not of the expected unit; the message says which units fit."""


DURATION_UNITS: dict[str, float] = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
SIZE_UNITS: dict[str, int] = {
    "B": 1,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
    "KiB": 1024,
    "MiB": 1024**2,
    "GiB": 1024**3,
}
EXAMPLES: dict[UnitKind, str] = {
    UnitKind.DURATION: "a duration such as 250ms, 30s, 5m, 1h or 1d",
    UnitKind.SIZE: "a size such as 512KB, 10MB or 1GiB",
    UnitKind.MONEY: "an amount of money such as $1000 or $0.50",
    UnitKind.PERCENT: "a percentage such as 80%",
}

_NUMBER = r"(?P<num>\d+(?:\.\d+)?)"
DURATION_RE = re.compile(_NUMBER + r"(?P<unit>ms|s|m|h|d)")
SIZE_RE = re.compile(_NUMBER + r"(?P<unit>B|KB|MB|GB|KiB|MiB|GiB)")
MONEY_RE = re.compile(r"\$(?P<num>\d+(?:\.\d+)?)")
PERCENT_RE = re.compile(_NUMBER + r"%")


def _describe(kind: UnitKind, text: str) -> str:
    stripped = text.strip()
    if re.fullmatch(r"-?\d+(\.\d+)?", stripped):
        return f"{stripped} is a bare number; expected {EXAMPLES[kind]}"
    return f"{stripped!r} is not {EXAMPLES[kind]}"


def parse_duration(value: object) -> float:
    """Seconds from a duration literal."""
    text = _as_text(value)
    match = DURATION_RE.fullmatch(text.strip())
    if match is None:
        raise UnitError(_describe(UnitKind.DURATION, text))
    return float(match["num"]) * DURATION_UNITS[match["unit"]]


def parse_size(value: object) -> int:
    """Bytes from a size literal."""
    text = _as_text(value)
    match = SIZE_RE.fullmatch(text.strip())
    if match is None:
        raise UnitError(_describe(UnitKind.SIZE, text))
    return int(float(match["num"]) * SIZE_UNITS[match["unit"]])


def parse_money(value: object) -> Decimal:
    """Dollars from a money literal."""
    text = _as_text(value)
    match = MONEY_RE.fullmatch(text.strip())
    if match is None:
        raise UnitError(_describe(UnitKind.MONEY, text))
    try:
        return Decimal(match["num"])
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only digits
        raise UnitError(_describe(UnitKind.MONEY, text)) from exc


def parse_percent(value: object) -> float:
    """A fraction (0.8) from a percentage literal (80%)."""
    text = _as_text(value)
    match = PERCENT_RE.fullmatch(text.strip())
    if match is None:
        raise UnitError(_describe(UnitKind.PERCENT, text))
    return float(match["num"]) / 100.0


PARSERS = {
    UnitKind.DURATION: parse_duration,
    UnitKind.SIZE: parse_size,
    UnitKind.MONEY: parse_money,
    UnitKind.PERCENT: parse_percent,
}


def format_duration(seconds: float) -> str:
    """The shortest exact literal for a number of seconds (used by `plan` output)."""
    for unit, factor in (("d", 86400.0), ("h", 3600.0), ("m", 60.0), ("s", 1.0)):
        if seconds >= factor and (seconds / factor).is_integer():
            return f"{int(seconds / factor)}{unit}"
    millis = seconds * 1000
    return f"{int(millis)}ms" if millis.is_integer() else f"{millis:g}ms"


def _as_text(value: object) -> str:
    if isinstance(value, bool):
        raise UnitError(f"{value!r} is a boolean, not a unit literal")
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return value
    raise UnitError(f"expected a unit literal, got {type(value).__name__}")
