"""Every valid fixture, the bundled demo and every example config compiles, and its plan matches a small
golden summary (`fixtures/configs/valid/NAME.plan.json`; regenerate with MODELMUX_UPDATE_GOLDENS=1).

The roadmap snippets (fixtures/configs/valid/roadmap-*.yaml) are the contract's promise: each passes
`modelmux validate` with the environment variables it references set.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from modelmux.compiler.compile import compile_file
from modelmux.plan.models import Plan

REPO = Path(__file__).resolve().parents[2]
VALID = REPO / "fixtures/configs/valid"
UPDATE = os.environ.get("MODELMUX_UPDATE_GOLDENS") == "1"

BASE_ENV = {
    "OPENAI_API_KEY": "sk-test-openai",
    "ANTHROPIC_API_KEY": "sk-ant-test",
    "COHERE_API_KEY": "co-test",
    "AZURE_OPENAI_API_KEY": "azure-test",
    "HF_TOKEN": "hf-test",
}
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")


def _configs() -> list[tuple[Path, str]]:
    """(config, golden name) for every config that must compile."""
    found = [(p, p.stem) for p in sorted(VALID.glob("*.yaml"))]
    found.append((REPO / "configs/demo.yaml", "demo"))
    found += [(p, f"example-{p.stem}") for p in sorted((REPO / "configs/examples").glob("*.yaml"))]
    return found


CONFIGS = _configs()


def environment(path: Path) -> dict[str, str]:
    """The fixed keys, plus a stable stand-in for any other variable the file references."""
    env = dict(BASE_ENV)
    for name in VARIABLE.findall(path.read_text(encoding="utf-8")):
        env.setdefault(name, f"test-{name.lower()}")
    return env


def plan_summary(plan: Plan) -> dict[str, Any]:
    routing = plan.routing
    fallback = routing.fallback
    return {
        "providers": [
            {
                "name": p.name,
                "type": p.type,
                "base_url": p.base_url,
                "api_key": str(p.api_key) if p.api_key else None,
                "models": {route.public: route.upstream for route in p.models},
                "wildcard": p.wildcard,
            }
            for p in plan.providers
        ],
        "models": {model: list(providers) for model, providers in plan.models.items()},
        "wildcard_providers": list(plan.wildcard_providers),
        "routing": {
            "strategy": routing.strategy,
            "base": routing.base,
            "rules": [
                {"name": rule.name, "if": rule.text, "providers": list(rule.providers), "model": rule.model}
                for rule in routing.rules
            ],
            "geographic": routing.geographic,
            "data_residency": routing.data_residency,
        },
        "fallback": {
            "enabled": fallback.enabled,
            "max_retries": fallback.max_retries,
            "backoff": fallback.backoff,
            "initial_delay": fallback.initial_delay,
            "max_delay": fallback.max_delay,
            "retry_statuses": sorted(fallback.retry_statuses),
            "retry_timeout": fallback.retry_timeout,
            "retry_connect_error": fallback.retry_connect_error,
        },
        "caching": None
        if plan.caching is None
        else {
            "enabled": plan.caching.enabled,
            "backend": plan.caching.backend,
            "ttl": plan.caching.ttl,
            "rules": len(plan.caching.rules),
            "rule_kinds": [rule.kind for rule in plan.caching.rules],
        },
        "regions": {name: list(region.providers) for name, region in plan.regions.items()},
        "sections": sorted(name for name, value in plan.sections.items() if value),
    }


@pytest.mark.parametrize("path, name", [pytest.param(p, n, id=n) for p, n in CONFIGS])
def test_config_compiles_to_the_expected_plan(path: Path, name: str) -> None:
    result = compile_file(path, environment(path))
    assert not result.errors, "\n".join(d.render() for d in result.errors)
    assert result.ok and result.plan is not None
    summary = json.dumps(plan_summary(result.plan), indent=2) + "\n"
    golden = VALID / f"{name}.plan.json"
    if UPDATE:
        golden.write_text(summary, encoding="utf-8")
        return
    assert golden.is_file(), f"{golden} is missing; run with MODELMUX_UPDATE_GOLDENS=1"
    assert summary == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize("path, name", [pytest.param(p, n, id=n) for p, n in CONFIGS])
def test_secrets_in_the_plan_keep_their_template(path: Path, name: str) -> None:
    env = environment(path)
    plan = compile_file(path, env).plan
    assert plan is not None
    for provider in plan.providers:
        if provider.api_key is not None and "${" in str(provider.api_key):
            assert provider.api_key.reveal() in env.values()
            assert provider.api_key.reveal() not in str(provider.api_key)


def test_roadmap_snippets_are_all_present() -> None:
    names = {p.stem for p in VALID.glob("roadmap-*.yaml")}
    assert {
        "roadmap-providers",
        "roadmap-hybrid-routing",
        "roadmap-caching",
        "roadmap-analytics",
        "roadmap-regions",
        "roadmap-pipelines",
    } <= names


def test_every_plan_golden_has_a_config() -> None:
    names = {name for _, name in CONFIGS}
    for golden in VALID.glob("*.plan.json"):
        assert golden.name.removesuffix(".plan.json") in names, f"orphan golden {golden}"
