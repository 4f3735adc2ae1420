"""`modelmux explain CONFIG --model M [--header K=V] [--metadata K=V] [--stream] [--region R]`.

Compiles the config, builds the facts the runtime would build for a minimal chat request, runs the
router on a fresh runtime state and prints why the request goes where it goes (the logic lives in
`modelmux.routing.explain`, shared with `GET /admin/explain`). Exit 0 with at least one candidate
provider, 1 with none (the reason is printed), 2 on a usage error or a config that does not compile.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from modelmux.cli.render import text_report
from modelmux.compiler.compile import compile_file
from modelmux.config.env import current_environment
from modelmux.errors import RequestError
from modelmux.routing import Router, RuntimeState
from modelmux.routing.explain import Explanation, explain, facts_for, scalar

USAGE = 2


class UsageError(ValueError):
    pass


def pairs(values: Sequence[str], option: str) -> dict[str, str]:
    """`K=V` items (also `K:V` for headers, as curl writes them) into a mapping; UsageError when malformed."""
    found: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep and option == "--header":
            name, sep, value = item.partition(":")
        if not sep or not name.strip():
            raise UsageError(f"{option} takes NAME=VALUE, got {item!r}")
        found[name.strip()] = value.strip()
    return found


def run_explain(
    path: str,
    *,
    model: str,
    headers: Sequence[str] = (),
    metadata: Sequence[str] = (),
    stream: bool = False,
    region: str | None = None,
    identity: dict[str, str | None] | None = None,
    output: str = "text",
) -> int:
    try:
        header_map = pairs(headers, "--header")
        meta = {name: scalar(value) for name, value in pairs(metadata, "--metadata").items()}
    except UsageError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return USAGE
    result = compile_file(path, current_environment())
    if result.plan is None:
        sys.stderr.write(text_report(path, result) + "\n")
        return USAGE
    try:
        facts = facts_for(model, stream=stream, headers=header_map, metadata=meta, region=region, identity=identity)
    except RequestError as exc:
        sys.stderr.write(f"error: {exc.message}\n")
        return USAGE
    explanation = explain(Router(RuntimeState()), result.plan, facts)
    if output == "json":
        sys.stdout.write(orjson.dumps(explanation.to_json(), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        sys.stdout.write(render_text(explanation) + "\n")
    return 0 if explanation.ok else 1


def render_text(explanation: Explanation) -> str:
    decision = explanation.decision
    request = explanation.request
    lines = [f"plan {explanation.fingerprint} ({', '.join(explanation.files)})", _request_line(request), ""]
    lines += _rule_lines(explanation)
    rewrite = f" (model rewritten to {decision.model})" if decision.model != request["model"] else ""
    lines += ["", f"route: {decision.route}{rewrite}", f"strategy: {decision.strategy} ({explanation.ordered_by})"]
    if explanation.candidates:
        lines += ["", "candidates, in the order they would be tried:"]
        for number, item in enumerate(explanation.candidates, 1):
            upstream = f" as {item['upstream_model']}" if item["upstream_model"] != decision.model else ""
            region = f" region={item['region']}" if item["region"] else ""
            lines.append(f"  {number}. {item['name']} ({item['type']}{region}){upstream}")
    else:
        lines += ["", f"no candidate: {explanation.reason}"]
    if explanation.excluded:
        lines += ["", "excluded:"]
        width = max(len(str(item["name"])) for item in explanation.excluded)
        for item in explanation.excluded:
            detail = f" ({item['detail']})" if item["detail"] else ""
            lines.append(f"  {item['name']:<{width}}  {item['reason']}{detail}")
    if decision.notes:
        lines += ["", "notes:"] + [f"  {note}" for note in decision.notes]
    return "\n".join(lines)


def _request_line(request: Mapping[str, Any]) -> str:
    parts = [f"model={request['model']}", f"stream={'true' if request['stream'] else 'false'}"]
    for name in ("region", "user", "org", "team", "role"):
        if request.get(name):
            parts.append(f"{name}={request[name]}")
    for name, value in dict(request.get("metadata") or {}).items():
        parts.append(f"metadata.{name}={orjson.dumps(value).decode()}")
    for name, value in dict(request.get("headers") or {}).items():
        parts.append(f"header {name}: {value}")
    return "request: " + " ".join(parts)


def _rule_lines(explanation: Explanation) -> list[str]:
    decision = explanation.decision
    if not explanation.tested and not explanation.skipped_by_index:
        return ["rules: none in the config (the default route: every provider serving the model)"]
    lines = ["rules (first match wins):"]
    for verdict in explanation.tested:
        rule = verdict.rule
        mark = "MATCH" if verdict.matched else "no   "
        lines.append(f"  {mark} {rule.name}: if {rule.text}   [{rule.location}]")
        if verdict.matched:
            target = f"providers {', '.join(rule.providers)}" if rule.providers else "every provider serving the model"
            rewrite = f", model rewritten to {rule.model}" if rule.model else ""
            lines.append(f"        {verdict.why} -> {target}{rewrite}")
        else:
            lines.append(f"        {verdict.why}")
    if explanation.skipped_by_index:
        count = explanation.skipped_by_index
        lines.append(
            f"  ({count} rule{'s' if count != 1 else ''} not tested: "
            f"{'they test' if count != 1 else 'it tests'} `model ==` for other models)"
        )
    if decision.rule is None:
        lines.append("  no rule matched: the default route, every provider serving the model")
    return lines
