"""What every compiler pass shares: the loaded files, the diagnostics bag and position helpers."""

from __future__ import annotations

from dataclasses import dataclass

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
        """The span of characters inside a scalar (a rule's text), allowing for quotes."""
        span = self.loaded.span(path)
        position = self.loaded.positions.get(path)
        if span is None:
            return None
        if position is not None and position.style in ("|", ">"):
            return span
        quote = 1 if position is not None and position.style in ("'", '"') else 0
        return span.shifted(offset + quote, length)

    def location(self, path: PathKey) -> str:
        span = self.span(path)
        return str(span) if span is not None else ".".join(str(p) for p in path)


def dotted(path: PathKey) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out
