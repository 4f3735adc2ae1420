"""Rendering compile results for people (text), machines (json) and GitHub Actions (annotations)."""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from modelmux.compiler.compile import CompileResult
from modelmux.config.diagnostics import Diagnostic


def text_report(path: str, result: CompileResult) -> str:
    lines = [d.render() for d in result.diagnostics]
    errors, warnings = len(result.errors), len(result.warnings)
    if result.ok:
        summary = f"{path}: valid, fingerprint {result.plan.fingerprint}" if result.plan else f"{path}: valid"
        if warnings:
            summary += f" ({_count(warnings, 'warning')})"
    else:
        summary = f"{path}: invalid: {_count(errors, 'error')}"
        if warnings:
            summary += f", {_count(warnings, 'warning')}"
    lines.append(summary)
    return "\n\n".join([*lines[:-1], ""]) + lines[-1] if len(lines) > 1 else lines[0]


def json_report(results: Sequence[tuple[str, CompileResult]]) -> str:
    files = [
        {
            "path": path,
            "valid": result.ok,
            "fingerprint": result.plan.fingerprint if result.plan else None,
            "errors": len(result.errors),
            "warnings": len(result.warnings),
            "diagnostics": [d.to_json() for d in result.diagnostics],
        }
        for path, result in results
    ]
    valid = all(item["valid"] for item in files)
    return orjson.dumps({"valid": valid, "files": files}, option=orjson.OPT_INDENT_2).decode()


def github_report(path: str, result: CompileResult) -> str:
    return "\n".join(_annotation(path, d) for d in result.diagnostics)


def _annotation(path: str, diagnostic: Diagnostic) -> str:
    level = "error" if diagnostic.is_error else "warning"
    props = [f"file={_escape_property(diagnostic.span.file if diagnostic.span else path)}"]
    if diagnostic.span is not None:
        props += [f"line={diagnostic.span.line}", f"col={diagnostic.span.column}"]
        if diagnostic.span.end_column is not None and diagnostic.span.end_line == diagnostic.span.line:
            props.append(f"endColumn={diagnostic.span.end_column}")
    props.append(f"title={_escape_property('modelmux ' + diagnostic.code)}")
    message = diagnostic.message + (f" ({diagnostic.hint})" if diagnostic.hint else "")
    return f"::{level} {','.join(props)}::{_escape_data(message)}"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _count(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")
