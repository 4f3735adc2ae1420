"""Providers: unique names, the model catalog, and resolution of references with "did you mean"."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from modelmux.compiler.context import CompileContext
from modelmux.config.diagnostics import suggestion
from modelmux.config.loader import PathKey
from modelmux.config.models import Config


@dataclass(frozen=True)
class Catalog:
    """Which providers serve which public model names."""

    providers: tuple[str, ...]
    models: Mapping[str, tuple[str, ...]]
    wildcard: tuple[str, ...]

    def serving(self, model: str) -> tuple[str, ...]:
        named = self.models.get(model, ())
        return named + tuple(p for p in self.wildcard if p not in named)

    def knows_model(self, model: str) -> bool:
        return bool(self.serving(model))

    def model_names(self) -> tuple[str, ...]:
        return tuple(self.models)


def build_catalog(config: Config, ctx: CompileContext) -> Catalog:
    seen: dict[str, int] = {}
    models: dict[str, list[str]] = {}
    wildcard: list[str] = []
    for index, provider in enumerate(config.providers):
        if provider.name in seen:
            first = ctx.location(("providers", seen[provider.name], "name"))
            ctx.bag.error(
                f"duplicate provider name {provider.name!r} (first defined at {first})",
                ctx.span(("providers", index, "name")),
                hint="provider names must be unique; rename one of them",
                code="duplicate-name",
            )
            continue
        seen[provider.name] = index
        names = provider.models if isinstance(provider.models, list) else list(provider.models)
        for name in names:
            if name == "*":
                wildcard.append(provider.name)
            else:
                models.setdefault(name, []).append(provider.name)
    return Catalog(
        tuple(seen),
        MappingProxyType({k: tuple(v) for k, v in models.items()}),
        tuple(wildcard),
    )


def check_provider_ref(name: str, catalog: Catalog, ctx: CompileContext, path: PathKey) -> bool:
    if name in catalog.providers:
        return True
    ctx.bag.error(
        f"unknown provider {name!r}",
        ctx.span(path),
        hint=suggestion(name, catalog.providers) or _known("providers", catalog.providers),
        code="unknown-provider",
    )
    return False


def check_provider_or_model(name: str, catalog: Catalog, ctx: CompileContext, path: PathKey) -> bool:
    if name in catalog.providers or catalog.knows_model(name):
        return True
    options: Iterable[str] = (*catalog.providers, *catalog.model_names())
    ctx.bag.error(
        f"{name!r} is neither a provider nor a model that a provider serves",
        ctx.span(path),
        hint=suggestion(name, options) or _known("providers", catalog.providers),
        code="unknown-provider",
    )
    return False


def _known(what: str, names: Iterable[str]) -> str:
    listed = ", ".join(names)
    return f"known {what}: {listed}" if listed else f"no {what} are defined"
