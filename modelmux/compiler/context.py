"""What every compiler pass shares: the loaded files, the diagnostics bag and position helpers."""

from __future__ import annotations

from dataclasses import dataclass

from modelmux.compiler.scalar_map import scalar_positions
from modelmux.config.diagnostics import DiagnosticBag
from modelmux.config.loader import LoadedConfig, PathKey
from modelmux.source import SourceSpan


@dataclass
class CompileContext:
    loaded: LoadedConfig
    bag: DiagnosticBag
    strict: bool = False

    def span(self, path: PathKey, *, key: bool = False) -> SourceSpan | None:
        return self.loaded.span(path, key=key)

    def text_span(self, path: PathKey, offset: int, length: int) -> SourceSpan | None:
        """The span of characters inside a scalar (a rule's text), allowing for quotes, escapes and
        lines folded together."""
        span = self.loaded.span(path)
        position = self.loaded.positions.get(path)
        if span is None or position is None:
            return span
        lines = self.loaded.lines.get(span.file, [])
        positions = scalar_positions(lines, span.line, span.column, position.style)
        if not positions:
            return span
        limit = len(positions) - 1
        first = positions[min(offset, limit)]
        after = positions[min(offset + max(length, 1), limit)]
        end = after[1] if after[0] == first[0] else len(lines[first[0] - 1]) + 1
        return SourceSpan(span.file, first[0], first[1], first[0], max(end, first[1] + 1))

    def location(self, path: PathKey) -> str:
        span = self.span(path)
        return str(span) if span is not None else ".".join(str(p) for p in path)


def dotted(path: PathKey) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out
