"""`modelmux diff OLD NEW [--format text|markdown|json]`: exit 0 equal, 1 different, 2 either invalid."""

from __future__ import annotations

import sys

import orjson

from modelmux.cli.render import text_report
from modelmux.compiler.compile import compile_file
from modelmux.config.env import current_environment
from modelmux.plan.diff import diff_configs, render_json, render_markdown, render_text


def run_diff(old: str, new: str, *, output: str, allow_missing_env: bool) -> int:
    env = current_environment()
    results = [(path, compile_file(path, env, allow_missing_env=allow_missing_env)) for path in (old, new)]
    broken = [(path, result) for path, result in results if result.plan is None]
    if broken:
        for path, result in broken:
            sys.stderr.write(text_report(path, result) + "\n")
        return 2
    (_, before), (_, after) = results
    assert before.plan is not None and after.plan is not None
    diff = diff_configs(before.public, after.public, before.plan.fingerprint, after.plan.fingerprint)
    if output == "json":
        sys.stdout.write(orjson.dumps(render_json(diff), option=orjson.OPT_INDENT_2).decode() + "\n")
    elif output == "markdown":
        sys.stdout.write(render_markdown(diff))
    else:
        sys.stdout.write(render_text(diff) + "\n")
    return 0 if diff.equal else 1
