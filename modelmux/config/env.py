"""Environment variables: the only module that reads `os.environ`, and `${VAR}` interpolation.

`interpolate` is pure: it takes the environment as a mapping, so `validate`, `doctor` and `serve`
agree on what a config means. Every interpolated value remembers its template, so a secret is shown
as `${OPENAI_API_KEY}` and never as its value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelmux.config.diagnostics import DiagnosticBag, suggestion
from modelmux.config.loader import LoadedConfig, PathKey
from modelmux.source import SourceSpan

REFERENCE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
MALFORMED = re.compile(r"\$\{(?![A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\})")


def current_environment() -> dict[str, str]:
    """A snapshot of the process environment, taken once per compile."""
    return dict(os.environ)


@dataclass(frozen=True, slots=True)
class Interpolated:
    """The result of interpolating a whole config: data, and the template of every changed value."""

    data: dict[str, Any]
    templates: Mapping[PathKey, str]
    missing: frozenset[str]


def interpolate(
    loaded: LoadedConfig, env: Mapping[str, str], bag: DiagnosticBag, *, missing_is_error: bool = True
) -> Interpolated:
    """Replace every `${VAR}` reference. A missing variable without a default is a diagnostic (an error
    unless `missing_is_error` is False, as `validate --allow-missing-env` asks in CI without secrets)."""
    templates: dict[PathKey, str] = {}
    missing: set[str] = set()

    def walk(value: Any, path: PathKey) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, (*path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, (*path, i)) for i, v in enumerate(value)]
        if isinstance(value, str) and "$" in value:
            return _scalar(value, path)
        return value

    def _scalar(text: str, path: PathKey) -> str:
        bad = MALFORMED.search(text)
        if bad:
            bag.error(
                "malformed environment reference",
                _offset_span(loaded, path, bad.start()),
                hint="write ${NAME} or ${NAME:-default}; write $$ for a literal $",
            )
            return text

        def replace(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            name, default = match.group(1), match.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            missing.add(name)
            report = bag.error if missing_is_error else bag.warning
            report(
                f"environment variable {name} is not set",
                _offset_span(loaded, path, match.start(), len(match.group(0))),
                hint=suggestion(name, env.keys()) or f"export {name}=... or write ${{{name}:-default}}",
                code="env",
            )
            return match.group(0)

        if "${" not in text and "$$" not in text:
            return text
        result = REFERENCE.sub(replace, text)
        if "${" in text:
            templates[path] = text
        return result

    data = walk(loaded.data, ())
    return Interpolated(data, templates, frozenset(missing))


def _offset_span(loaded: LoadedConfig, path: PathKey, offset: int, length: int = 1) -> SourceSpan | None:
    span = loaded.span(path)
    if span is None:
        return None
    position = loaded.positions.get(path)
    quote = 1 if position is not None and position.style in ("'", '"') else 0
    return span.shifted(offset + quote, length)


def referenced_variables(data: Any) -> set[str]:
    """Every variable name a config refers to (for `doctor`)."""
    found: set[str] = set()
    if isinstance(data, dict):
        for value in data.values():
            found |= referenced_variables(value)
    elif isinstance(data, list):
        for value in data:
            found |= referenced_variables(value)
    elif isinstance(data, str):
        found |= {m.group(1) for m in REFERENCE.finditer(data) if m.group(1)}
    return found
