"""`modelmux plan CONFIG [--format text|json]`: the compiled plan, secrets shown as `${VAR}` or `***`."""

from __future__ import annotations

import sys
from typing import Any

import orjson

from modelmux.cli.render import text_report
from modelmux.compiler.compile import compile_file
from modelmux.config.env import current_environment
from modelmux.plan.models import Plan
from modelmux.units import format_duration


def plan_document(plan: Plan, public: dict[str, Any]) -> dict[str, Any]:
    """The JSON form of a plan, shared by `modelmux plan --format json` and `GET /admin/plan`."""
    routing = plan.routing
    return {
        "fingerprint": plan.fingerprint,
        "files": list(plan.files),
        "models": {model: list(plan.providers_for(model)) for model in plan.models},
        "wildcard_providers": list(plan.wildcard_providers),
        "routing": {
            "strategy": routing.strategy,
            "base": routing.base,
            "rules": [
                {
                    "name": rule.name,
                    "if": rule.text,
                    "providers": list(rule.providers),
                    "model": rule.model,
                    "indexed_models": sorted(rule.model_equals) if rule.model_equals is not None else None,
                    "location": rule.location,
                }
                for rule in routing.rules
            ],
            "fallback": {
                "enabled": routing.fallback.enabled,
                "max_retries": routing.fallback.max_retries,
                "backoff": routing.fallback.backoff,
                "on": sorted(routing.fallback.retry_statuses),
            },
        },
        "config": public,
    }


def run_plan(path: str, *, output: str) -> int:
    result = compile_file(path, current_environment())
    if result.plan is None:
        sys.stderr.write(text_report(path, result) + "\n")
        return 1
    document = plan_document(result.plan, result.public)
    if output == "json":
        sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    sys.stdout.write(_text(result.plan, document) + "\n")
    return 0


def _text(plan: Plan, document: dict[str, Any]) -> str:
    lines = [f"plan {plan.fingerprint}  ({', '.join(plan.files)})", "", "providers:"]
    shown_urls = {p.get("name"): p.get("base_url") for p in document["config"].get("providers", [])}
    for provider in plan.providers:
        base_url = shown_urls.get(provider.name) or (provider.base_url if "@" not in provider.base_url else "***")
        models = ", ".join(
            route.public if route.public == route.upstream else f"{route.public}->{route.upstream}"
            for route in provider.models
        )
        if provider.wildcard:
            models = (models + ", *") if models else "*"
        key = f" key={provider.api_key}" if provider.api_key else ""
        region = f" region={provider.region}" if provider.region else ""
        lines.append(
            f"  {provider.name:<16} {provider.type:<18} {base_url}{key}{region}"
            f" timeout={format_duration(provider.timeout)} models=[{models}]"
        )
    routing = plan.routing
    lines += ["", f"routing: strategy={routing.strategy} base={routing.base}"]
    for rule in routing.rules:
        target = ", ".join(rule.providers) or "(all serving the model)"
        rewrite = f" model={rule.model}" if rule.model else ""
        lines.append(f"  {rule.index + 1}. if {rule.text}  ->  {target}{rewrite}   [{rule.location}]")
    fallback = routing.fallback
    lines.append(
        f"  fallback: {'on' if fallback.enabled else 'off'}"
        + (f", {fallback.max_retries} retries, {fallback.backoff} backoff" if fallback.enabled else "")
    )
    if plan.caching is not None:
        caching = plan.caching
        lines += [
            "",
            f"caching: {caching.backend} ttl={format_duration(caching.ttl)} rules={len(caching.rules)}",
        ]
    if plan.regions:
        lines += ["", "regions:"] + [f"  {r.name}: {', '.join(r.providers)}" for r in plan.regions.values()]
    return "\n".join(lines)
