"""The compiler: loaded config plus environment in, immutable Plan (or every diagnostic) out.

`compile_loaded` is pure (no IO, no clock, no globals), so `validate`, `doctor`, `serve` and a hot
reload cannot disagree. `compile_file` is the convenience that loads first.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from modelmux.compiler.context import CompileContext
from modelmux.compiler.partial import check_unvalidated
from modelmux.compiler.policies import (
    check_analytics,
    check_auth,
    check_experiments,
    check_pipelines,
    compile_caching,
    compile_regions,
)
from modelmux.compiler.providers import provider_plan
from modelmux.compiler.redact import redacted
from modelmux.compiler.redis import compile_redis, with_cache_url
from modelmux.compiler.resolve import build_catalog
from modelmux.compiler.routing import compile_routing
from modelmux.config.check import check_config
from modelmux.config.diagnostics import Diagnostic, DiagnosticBag, Severity
from modelmux.config.env import interpolate
from modelmux.config.loader import LoadedConfig, PathKey, load_config
from modelmux.config.models import Config
from modelmux.plan.fingerprint import fingerprint
from modelmux.plan.models import CorsPlan, Plan, Secret, ServerPlan

RUNTIME_SECTIONS = (
    "auth",
    "pii",
    "audit",
    "analytics",
    "pipelines",
    "experiments",
    "observability",
    "plugins",
)


@dataclass
class CompileResult:
    plan: Plan | None
    diagnostics: list[Diagnostic]
    loaded: LoadedConfig
    config: Config | None = None
    public: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.plan is not None

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if not d.is_error]


def compile_file(
    path: str | os.PathLike[str],
    env: Mapping[str, str],
    *,
    strict: bool = False,
    text: str | None = None,
    allow_missing_env: bool = False,
) -> CompileResult:
    loaded = load_config(path, text=text)
    return compile_loaded(loaded, env, strict=strict, allow_missing_env=allow_missing_env)


def compile_loaded(
    loaded: LoadedConfig, env: Mapping[str, str], *, strict: bool = False, allow_missing_env: bool = False
) -> CompileResult:
    bag = DiagnosticBag(loaded.lines)
    bag.items.extend(loaded.diagnostics.items)
    ctx = CompileContext(loaded, bag, strict)
    if bag.has_errors and not loaded.data:
        return _result(None, bag, loaded, None, strict, {}, [])
    interpolated = interpolate(loaded, env, bag, missing_is_error=not allow_missing_env)
    scrub = _secret_values(interpolated.data, interpolated.templates)
    config = check_config(interpolated.data, loaded, bag)
    if config is None:
        check_unvalidated(interpolated.data, ctx)
        return _result(None, bag, loaded, None, strict, {}, scrub)
    templates = dict(interpolated.templates)
    plan, public = _plan(config, ctx, templates)
    return _result(plan, bag, loaded, config, strict, public, scrub)


def _secret_values(data: Any, templates: Mapping[PathKey, str]) -> list[tuple[str, str]]:
    """(value, template) for every interpolated value, longest first: diagnostics show the template."""
    found = []
    for path, template in templates.items():
        value: Any = data
        for part in path:
            if isinstance(value, dict):
                value = value.get(part)
            elif isinstance(value, list) and isinstance(part, int) and part < len(value):
                value = value[part]
            else:
                value = None
        if isinstance(value, str) and len(value) >= 3 and value != template:
            found.append((value, template))
    return sorted(found, key=lambda pair: -len(pair[0]))


def _scrubbed(diagnostic: Diagnostic, scrub: list[tuple[str, str]]) -> Diagnostic:
    message, hint = diagnostic.message, diagnostic.hint
    for value, template in scrub:
        message = message.replace(value, template)
        hint = hint.replace(value, template) if hint else hint
    if message == diagnostic.message and hint == diagnostic.hint:
        return diagnostic
    return Diagnostic(diagnostic.severity, message, diagnostic.span, hint, diagnostic.code, diagnostic.source_line)


def _plan(config: Config, ctx: CompileContext, templates: dict[PathKey, str]) -> tuple[Plan | None, dict[str, Any]]:
    catalog = build_catalog(config, ctx)
    providers = tuple(
        provider_plan(p, i, templates, _folder(ctx, ("providers", i))) for i, p in enumerate(config.providers)
    )
    routing = compile_routing(config, catalog, ctx)
    regions = compile_regions(config, catalog, ctx)
    redis = compile_redis(config, ctx, templates)
    caching = with_cache_url(compile_caching(config, ctx, templates), config, redis)  # type: ignore[arg-type]
    check_auth(config, catalog, ctx)
    check_analytics(config, ctx)
    check_pipelines(config, catalog, ctx)
    check_experiments(config, catalog, ctx)
    unset = {"redis"} if config.redis is None else set()  # a section added later keeps fingerprints stable
    dumped = config.model_dump(mode="json", by_alias=True, exclude={"include", *unset})
    public = redacted(dumped, templates)
    if ctx.bag.has_errors or (ctx.strict and ctx.bag.items):
        return None, public
    index: dict[str, Any] = {}
    for provider in providers:
        index.setdefault(provider.name, provider)
    plan = Plan(
        fingerprint=fingerprint(dumped),
        files=tuple(ctx.loaded.files),
        server=_server(config, templates),
        providers=providers,
        provider_index=MappingProxyType(index),
        models=catalog.models,
        wildcard_providers=catalog.wildcard,
        routing=routing,
        caching=caching,
        regions=regions,
        sections=MappingProxyType({name: deep_freeze(getattr(config, name)) for name in RUNTIME_SECTIONS}),
        secret_paths=frozenset(".".join(str(p) for p in path) for path in templates),
        watch_files=tuple(os.path.abspath(f) for f in (*ctx.loaded.files, *ctx.loaded.script_paths)),
        redis=redis,
    )
    return plan, public


def _folder(ctx: CompileContext, path: PathKey) -> str:
    span = ctx.span(path)
    return os.path.dirname(os.path.abspath(span.file)) if span else ctx.loaded.base_dir


def _server(config: Config, templates: Mapping[PathKey, str]) -> ServerPlan:
    server = config.server
    token = server.admin_token
    cors = server.cors
    return ServerPlan(
        host=server.host,
        port=server.port,
        workers=server.workers,
        max_body_size=server.max_body_size,
        max_json_depth=server.max_json_depth,
        max_header_size=server.max_header_size,
        request_timeout=server.request_timeout,
        graceful_timeout=server.graceful_timeout,
        cors=CorsPlan(tuple(cors.allow_origins), tuple(cors.allow_headers), tuple(cors.allow_methods), cors.max_age)
        if cors
        else None,
        admin_token=Secret(templates.get(("server", "admin_token"), "***"), token) if token else None,
        watch=server.watch,
    )


def deep_freeze(value: Any) -> Any:
    """Frozen, checked section models become read-only mappings and tuples."""
    if hasattr(value, "model_dump"):
        value = value.model_dump(by_alias=True)
    if isinstance(value, dict):
        return MappingProxyType({k: deep_freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(deep_freeze(v) for v in value)
    return value


def _result(
    plan: Plan | None,
    bag: DiagnosticBag,
    loaded: LoadedConfig,
    config: Config | None,
    strict: bool,
    public: dict[str, Any],
    scrub: list[tuple[str, str]] | None = None,
) -> CompileResult:
    items = [_scrubbed(d, scrub or []) for d in bag.sorted()]
    if strict:
        items = [
            Diagnostic(Severity.ERROR, d.message, d.span, d.hint, d.code, d.source_line) if not d.is_error else d
            for d in items
        ]
    return CompileResult(plan if not any(d.is_error for d in items) else None, items, loaded, config, public)
