"""Diagnostics: what `validate` prints, with file, line, column, a caret and a fix.

A `DiagnosticBag` collects every problem of a compile so all of them are reported at once.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from modelmux.source import SourceSpan, render_snippet


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    severity: Severity
    message: str
    span: SourceSpan | None = None
    hint: str | None = None
    code: str = "config"
    source_line: str | None = field(default=None, compare=False)

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def headline(self) -> str:
        where = f"{self.span}: " if self.span else ""
        return f"{where}{self.severity.value}: {self.message}"

    def render(self) -> str:
        """The full text form: headline, snippet with caret, and the hint."""
        parts = [self.headline()]
        if self.span is not None and self.source_line is not None:
            parts.append(render_snippet(self.source_line, self.span))
        if self.hint:
            parts.append(f"  = help: {self.hint}")
        return "\n".join(parts)

    def to_json(self) -> dict[str, object]:
        return {
            "severity": self.severity.value,
            "code": self.code,
            "message": self.message,
            "file": self.span.file if self.span else None,
            "line": self.span.line if self.span else None,
            "column": self.span.column if self.span else None,
            "hint": self.hint,
        }


class DiagnosticBag:
    """Collects diagnostics; attaches the source line so rendering needs no file access later."""

    def __init__(self, lines_by_file: Mapping[str, Sequence[str]] | None = None) -> None:
        self.items: list[Diagnostic] = []
        self._lines = lines_by_file if lines_by_file is not None else {}

    def add(
        self,
        severity: Severity,
        message: str,
        span: SourceSpan | None,
        *,
        hint: str | None = None,
        code: str = "config",
    ) -> None:
        line = None
        if span is not None:
            lines = self._lines.get(span.file)
            if lines is not None and 0 < span.line <= len(lines):
                line = lines[span.line - 1]
        item = Diagnostic(severity, message, span, hint, code, line)
        if item not in self.items:
            self.items.append(item)

    def error(self, message: str, span: SourceSpan | None, *, hint: str | None = None, code: str = "config") -> None:
        self.add(Severity.ERROR, message, span, hint=hint, code=code)

    def warning(self, message: str, span: SourceSpan | None, *, hint: str | None = None, code: str = "config") -> None:
        self.add(Severity.WARNING, message, span, hint=hint, code=code)

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.items)

    def sorted(self) -> list[Diagnostic]:
        def key(d: Diagnostic) -> tuple[str, int, int]:
            return (d.span.file, d.span.line, d.span.column) if d.span else ("", 0, 0)

        return sorted(self.items, key=key)


def did_you_mean(word: str, options: Iterable[str]) -> str | None:
    """The closest option to a misspelled word, if one is close enough to suggest."""
    choices = [o for o in options if o]
    matches = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if not matches:
        lowered = {o.lower(): o for o in choices}
        matches = [lowered[word.lower()]] if word.lower() in lowered else []
    return matches[0] if matches else None


def suggestion(word: str, options: Iterable[str]) -> str | None:
    match = did_you_mean(word, options)
    return f"did you mean `{match}`?" if match else None
