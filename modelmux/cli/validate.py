"""`modelmux validate CONFIG... [--strict] [--format text|json|github]`: exit 0 valid, 1 invalid."""

from __future__ import annotations

import sys

from modelmux.cli.render import github_report, json_report, text_report
from modelmux.compiler.compile import CompileResult, compile_file
from modelmux.config.env import current_environment


def run_validate(paths: list[str], *, strict: bool, output: str, allow_missing_env: bool) -> int:
    env = current_environment()
    results: list[tuple[str, CompileResult]] = [
        (path, compile_file(path, env, strict=strict, allow_missing_env=allow_missing_env)) for path in paths
    ]
    if output == "json":
        sys.stdout.write(json_report(results) + "\n")
    else:
        for path, result in results:
            report = github_report(path, result) if output == "github" else text_report(path, result)
            if report:
                sys.stdout.write(report + "\n")
            if output == "github":
                state = "valid" if result.ok else f"invalid ({len(result.errors)} errors)"
                sys.stdout.write(f"{path}: {state}\n")
    return 0 if all(result.ok for _, result in results) else 1
