"""What a rule compiler reports: one problem at one place in the rule text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class RuleDiagnostic:
    """A problem in a rule; `offset` and `length` count characters of the rule text (0-based)."""

    severity: Severity
    message: str
    offset: int
    length: int
    hint: str | None = None


@dataclass(frozen=True, slots=True)
class Span:
    """Where a piece of the rule sits in its text."""

    offset: int
    length: int

    @property
    def end(self) -> int:
        return self.offset + self.length

    def cover(self, other: Span) -> Span:
        start = min(self.offset, other.offset)
        return Span(start, max(self.end, other.end) - start)


def error(message: str, span: Span, hint: str | None = None) -> RuleDiagnostic:
    return RuleDiagnostic("error", message, span.offset, max(span.length, 1), hint)


def warning(message: str, span: Span, hint: str | None = None) -> RuleDiagnostic:
    return RuleDiagnostic("warning", message, span.offset, max(span.length, 1), hint)
