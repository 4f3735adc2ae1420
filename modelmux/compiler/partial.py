"""Checks that still run when the config does not validate, so that one pass reports everything.

When pydantic rejects a config, the full compiler cannot build a plan, but rule expressions and
provider references can still be checked on the raw data: a typo in a rule should not wait for the
next run of `validate` to be reported.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from modelmux.compiler.context import CompileContext
from modelmux.compiler.resolve import Catalog, check_provider_or_model, check_provider_ref
from modelmux.compiler.rules import compile_expression


def check_unvalidated(data: dict[str, Any], ctx: CompileContext) -> None:
    catalog = _raw_catalog(data.get("providers"))
    routing = _mapping(data.get("routing"))
    attributes = _mapping(routing.get("attributes"))
    declared = {str(k): str(v) for k, v in attributes.items()}
    for index, rule in _entries(routing.get("rules")):
        if isinstance(rule.get("if"), str):
            compile_expression(rule["if"], ("routing", "rules", index, "if"), ctx, declared)
        if catalog is not None:
            _check_targets(rule, index, catalog, ctx)
    caching = _mapping(data.get("caching"))
    for index, rule in _entries(caching.get("rules")):
        for kind in ("cache_if", "skip_if"):
            if isinstance(rule.get(kind), str):
                compile_expression(rule[kind], ("caching", "rules", index, kind), ctx, declared)
    if catalog is not None:
        _check_references(data, catalog, ctx)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _raw_catalog(providers: Any) -> Catalog | None:
    if not isinstance(providers, list):
        return None
    names: list[str] = []
    models: dict[str, list[str]] = {}
    wildcard: list[str] = []
    for entry in providers:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            return None  # a provider without a readable name: references cannot be judged
        name = entry["name"]
        names.append(name)
        served = entry.get("models", ["*"])
        listed = list(served) if isinstance(served, dict | list) else []
        for model in listed:
            if model == "*":
                wildcard.append(name)
            elif isinstance(model, str):
                models.setdefault(model, []).append(name)
    return Catalog(tuple(names), MappingProxyType({k: tuple(v) for k, v in models.items()}), tuple(wildcard))


def _entries(value: Any) -> list[tuple[int, dict[str, Any]]]:
    if not isinstance(value, list):
        return []
    return [(i, item) for i, item in enumerate(value) if isinstance(item, dict)]


def _check_targets(rule: dict[str, Any], index: int, catalog: Catalog, ctx: CompileContext) -> None:
    if isinstance(rule.get("provider"), str):
        check_provider_ref(rule["provider"], catalog, ctx, ("routing", "rules", index, "provider"))
    targets = rule.get("providers")
    if isinstance(targets, list):
        for position, name in enumerate(targets):
            if isinstance(name, str):
                check_provider_ref(name, catalog, ctx, ("routing", "rules", index, "providers", position))


def _check_references(data: dict[str, Any], catalog: Catalog, ctx: CompileContext) -> None:
    regions = _mapping(data.get("regions"))
    for region, settings in regions.items():
        members = settings.get("providers") if isinstance(settings, dict) else None
        for position, name in enumerate(members if isinstance(members, list) else []):
            if isinstance(name, str):
                check_provider_ref(name, catalog, ctx, ("regions", region, "providers", position))
    for index, pipeline in _entries(data.get("pipelines")):
        for step_index, step in _entries(pipeline.get("steps")):
            if isinstance(step.get("provider"), str):
                path = ("pipelines", index, "steps", step_index, "provider")
                check_provider_or_model(step["provider"], catalog, ctx, path)
