"""Source positions and the snippet (line plus caret) that every diagnostic shows.

Lines and columns are 1-based, as editors and GitHub annotations count them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SourceSpan:
    """A place in a config file: where a key or value starts and ends."""

    file: str
    line: int
    column: int
    end_line: int | None = None
    end_column: int | None = None

    def shifted(self, offset: int, length: int = 1) -> SourceSpan:
        """The span `offset` characters to the right on the same line (for text inside a scalar)."""
        start = self.column + offset
        return SourceSpan(self.file, self.line, start, self.line, start + max(length, 1))

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


def render_snippet(source_line: str, span: SourceSpan) -> str:
    """The source line and a caret line under the span, for a terminal or a log."""
    line = source_line.rstrip("\n").expandtabs(1)
    width = 1
    if span.end_line == span.line and span.end_column is not None:
        width = max(1, span.end_column - span.column)
    width = max(1, min(width, max(1, len(line) - span.column + 1)))
    gutter = f"{span.line:>4} | "
    caret = " " * (len(gutter) - 2) + "| " + " " * (span.column - 1) + "^" + "~" * (width - 1)
    return f"{gutter}{line}\n{caret}"
