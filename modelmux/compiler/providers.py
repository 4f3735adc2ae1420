"""Provider entries into ProviderPlans: defaults resolved, secrets wrapped, type options gathered."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from modelmux.config.loader import PathKey
from modelmux.config.providers import DEFAULT_BASE_URLS, ProviderBase
from modelmux.plan.models import (
    BreakerPlan,
    ModelRoute,
    Price,
    ProviderPlan,
    RateLimitPlan,
    Secret,
    frozen_mapping,
)

COMMON_FIELDS = set(ProviderBase.model_fields) | {"type"}


def provider_plan(
    provider: ProviderBase, index: int, templates: Mapping[PathKey, str], folder: str = "."
) -> ProviderPlan:
    """`folder` is the directory of the file that defines the provider: relative paths start there."""
    base = ("providers", index)
    kind: str = getattr(provider, "type")  # noqa: B009 - every concrete provider model has `type`
    routes, wildcard = _routes(provider.models)
    return ProviderPlan(
        name=provider.name,
        type=kind,
        base_url=(provider.base_url or _default_base_url(kind, provider)).rstrip("/"),
        api_key=_secret(provider.api_key, templates.get((*base, "api_key"))),
        models=routes,
        wildcard=wildcard,
        region=provider.region,
        weight=provider.weight,
        timeout=provider.timeout,
        connect_timeout=provider.connect_timeout,
        rate_limit=RateLimitPlan(provider.rate_limit.rpm, provider.rate_limit.tpm) if provider.rate_limit else None,
        pricing=frozen_mapping({m: Price(p.input, p.output, p.cached_input) for m, p in provider.pricing.items()}),
        circuit_breaker=BreakerPlan(
            provider.circuit_breaker.failures,
            provider.circuit_breaker.window,
            provider.circuit_breaker.cooldown,
        ),
        headers=tuple(
            (name, _secret(value, templates.get((*base, "headers", name))) or Secret("***", value))
            for name, value in provider.headers.items()
        ),
        options=frozen_mapping(_options(provider, folder)),
    )


def _routes(models: list[str] | dict[str, str]) -> tuple[tuple[ModelRoute, ...], bool]:
    if isinstance(models, dict):
        return tuple(ModelRoute(k, v) for k, v in models.items()), False
    wildcard = "*" in models
    return tuple(ModelRoute(m, m) for m in models if m != "*"), wildcard


def _default_base_url(kind: str, provider: ProviderBase) -> str:
    if kind == "vertex_ai":
        location = str(getattr(provider, "location", "us-east5"))
        return (
            "https://aiplatform.googleapis.com"
            if location == "global"
            else (f"https://{location}-aiplatform.googleapis.com")
        )
    if kind == "bedrock":
        return f"https://bedrock-runtime.{provider.region}.amazonaws.com"
    if kind == "mock":
        return f"mock://{provider.name}"
    return DEFAULT_BASE_URLS.get(kind, "")


def _options(provider: ProviderBase, folder: str) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for name in type(provider).model_fields:
        if name in COMMON_FIELDS:
            continue
        value = getattr(provider, name)
        if hasattr(value, "model_dump"):
            value = frozen_mapping(value.model_dump())
        options[name] = value
    credentials = options.get("credentials")
    if isinstance(credentials, str) and credentials and not os.path.isabs(credentials):
        options["credentials"] = os.path.normpath(os.path.join(folder, credentials))
    for key in ("health_check",):
        value = getattr(provider, key)
        options[key] = frozen_mapping(value.model_dump()) if value is not None else None
    options["http2"] = provider.http2
    options["max_connections"] = provider.max_connections
    return options


def _secret(value: str | None, template: str | None) -> Secret | None:
    if value is None:
        return None
    return Secret(template or "***", value)
