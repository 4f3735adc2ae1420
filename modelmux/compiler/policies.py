"""Checks and plans for the policy sections: regions, caching, auth, analytics, pipelines, experiments."""

from __future__ import annotations

from types import MappingProxyType

from modelmux.compiler.context import CompileContext
from modelmux.compiler.resolve import Catalog, check_provider_or_model, check_provider_ref
from modelmux.compiler.rules import compile_expression
from modelmux.config.loader import PathKey
from modelmux.config.models import Config
from modelmux.config.sections import Budget
from modelmux.plan.models import CacheRulePlan, CachingPlan, RegionPlan, Secret

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def compile_regions(config: Config, catalog: Catalog, ctx: CompileContext) -> MappingProxyType[str, RegionPlan]:
    regions: dict[str, RegionPlan] = {}
    for name, region in config.regions.items():
        for position, provider in enumerate(region.providers):
            check_provider_ref(provider, catalog, ctx, ("regions", name, "providers", position))
        for position, other in enumerate(region.nearest):
            if other not in config.regions:
                ctx.bag.error(
                    f"unknown region {other!r}",
                    ctx.span(("regions", name, "nearest", position)),
                    code="unknown-region",
                )
        regions[name] = RegionPlan(name, tuple(region.providers), tuple(region.aliases), tuple(region.nearest))
    if config.routing.data_residency == "enforced" and regions:
        placed = {p for r in regions.values() for p in r.providers}
        for index, entry in enumerate(config.providers):
            if entry.name not in placed and entry.region is None:
                ctx.bag.warning(
                    f"provider {entry.name!r} is in no region, so enforced data residency never uses it",
                    ctx.span(("providers", index, "name")),
                    hint="list it under a region in `regions:` or set its `region:`",
                    code="residency",
                )
    return MappingProxyType(regions)


def compile_caching(
    config: Config, ctx: CompileContext, templates: dict[tuple[object, ...], str]
) -> CachingPlan | None:
    caching = config.caching
    if caching is None:
        return None
    declared = dict(config.routing.attributes)
    rules: list[CacheRulePlan] = []
    for index, rule in enumerate(caching.rules):
        kind = "cache_if" if rule.cache_if is not None else "skip_if"
        text = rule.cache_if if rule.cache_if is not None else rule.skip_if
        assert text is not None
        compiled = compile_expression(text, ("caching", "rules", index, kind), ctx, declared)
        if compiled.ok:
            rules.append(CacheRulePlan(kind, text, compiled.predicate))
    url = caching.url
    if caching.backend == "redis" and url is None:
        url = DEFAULT_REDIS_URL
    if url is not None and not url.startswith(("redis://", "rediss://", "unix://")):
        ctx.bag.error("caching `url` must be redis://, rediss:// or unix://", ctx.span(("caching", "url")))
    secret = Secret(templates.get(("caching", "url"), url if "@" not in url else "***"), url) if url else None
    return CachingPlan(
        enabled=caching.enabled,
        backend=caching.backend,
        url=secret,
        ttl=caching.ttl,
        max_entries=caching.max_entries,
        max_entry_size=caching.max_entry_size,
        key_prefix=caching.key_prefix,
        rules=tuple(rules),
    )


def check_auth(config: Config, catalog: Catalog, ctx: CompileContext) -> None:
    auth = config.auth
    if auth is None:
        return
    seen: dict[str, int] = {}
    for index, key in enumerate(auth.api_keys):
        if key.name in seen:
            ctx.bag.error(
                f"duplicate api key name {key.name!r}",
                ctx.span(("auth", "api_keys", index, "name")),
                code="duplicate-name",
            )
        seen.setdefault(key.name, index)
        if key.role is not None and auth.roles and key.role not in auth.roles:
            from modelmux.config.diagnostics import suggestion

            ctx.bag.error(
                f"unknown role {key.role!r}",
                ctx.span(("auth", "api_keys", index, "role")),
                hint=suggestion(key.role, auth.roles) or f"known roles: {', '.join(auth.roles)}",
                code="unknown-role",
            )
        for position, model in enumerate(key.models or []):
            if "*" not in model and not catalog.knows_model(model):
                ctx.bag.warning(
                    f"no provider serves model {model!r}",
                    ctx.span(("auth", "api_keys", index, "models", position)),
                    code="unknown-model",
                )


def check_analytics(config: Config, ctx: CompileContext) -> None:
    check_budgets(config, ctx)
    reports = config.analytics.usage_reports if config.analytics else None
    if reports is None:
        return
    for position, destination in enumerate(reports.destinations):
        if getattr(reports, destination) is None:
            example = (
                "{smtp_url: smtp://mail:25, to: [ops@example.com]}" if destination == "email" else "{url: https://...}"
            )
            ctx.bag.warning(
                f"usage reports go to {destination!r} but `{destination}:` is not configured, so none are sent",
                ctx.span(("analytics", "usage_reports", "destinations", position)),
                hint=f"add usage_reports.{destination}: {example}",
                code="destination",
            )


def check_budgets(config: Config, ctx: CompileContext) -> None:
    """Budgets (gateway, tenant, per key): an amount set, `downgrade_to` served, alert destinations configured."""
    tracking = config.analytics.cost_tracking if config.analytics else None
    found: list[tuple[Budget, PathKey]] = []
    if tracking is not None and tracking.budgets is not None:
        found.append((tracking.budgets, ("analytics", "cost_tracking", "budgets")))
    tenants = tracking.tenant_budgets if tracking is not None else None
    for scope in ("org", "team", "user"):
        for name, budget in (getattr(tenants, scope) if tenants else {}).items():
            found.append((budget, ("analytics", "cost_tracking", "tenant_budgets", scope, name)))
    for index, key in enumerate(config.auth.api_keys if config.auth else []):
        if key.budget is not None:
            found.append((key.budget, ("auth", "api_keys", index, "budget")))
    served = {name for p in config.providers for name in p.models} if config.providers else set()
    for budget, path in found:
        _check_budget(budget, path, served, ctx)
    alerts = tracking.alerts if tracking is not None else None
    for position, destination in enumerate(alerts.destinations if alerts else []):
        if getattr(alerts, destination) is None:
            ctx.bag.warning(
                f"budget alerts go to {destination!r} but `{destination}:` is not configured, so none are sent",
                ctx.span(("analytics", "cost_tracking", "alerts", "destinations", position)),
                hint=f"add analytics.cost_tracking.alerts.{destination}",
                code="destination",
            )


def _check_budget(budget: Budget, path: PathKey, served: set[str], ctx: CompileContext) -> None:
    if budget.daily is None and budget.weekly is None and budget.monthly is None:
        ctx.bag.warning(
            "this budget sets no amount, so it limits nothing",
            ctx.span(path),
            hint="add daily: $N, weekly: $N or monthly: $N",
            code="budget",
        )
    target = budget.downgrade_to
    if target is None:
        return
    if "*" not in served and target not in served:
        from modelmux.config.diagnostics import suggestion

        ctx.bag.error(
            f"no provider serves model {target!r}",
            ctx.span((*path, "downgrade_to")),
            hint=suggestion(target, sorted(served)) or "name a model some provider serves",
            code="unknown-model",
        )
    if budget.on_exceed != "downgrade":
        ctx.bag.warning(
            f"`downgrade_to` is used only with `on_exceed: downgrade` (this budget has {budget.on_exceed!r})",
            ctx.span((*path, "downgrade_to")),
            code="budget",
        )


def check_pipelines(config: Config, catalog: Catalog, ctx: CompileContext) -> None:
    names: set[str] = set()
    for index, pipeline in enumerate(config.pipelines):
        if pipeline.name in names:
            ctx.bag.error(
                f"duplicate pipeline name {pipeline.name!r}",
                ctx.span(("pipelines", index, "name")),
                code="duplicate-name",
            )
        names.add(pipeline.name)
        for step_index, step in enumerate(pipeline.steps):
            check_provider_or_model(step.provider, catalog, ctx, ("pipelines", index, "steps", step_index, "provider"))


def check_experiments(config: Config, catalog: Catalog, ctx: CompileContext) -> None:
    declared = dict(config.routing.attributes)
    for index, experiment in enumerate(config.experiments):
        if experiment.condition is not None:
            compile_expression(experiment.condition, ("experiments", index, "if"), ctx, declared)
        for position, variant in enumerate(experiment.variants):
            path = ("experiments", index, "variants", position)
            if variant.provider is not None:
                check_provider_ref(variant.provider, catalog, ctx, (*path, "provider"))
            if variant.model is not None and not catalog.knows_model(variant.model):
                ctx.bag.error(
                    f"no provider serves model {variant.model!r}",
                    ctx.span((*path, "model")),
                    code="unknown-model",
                )
