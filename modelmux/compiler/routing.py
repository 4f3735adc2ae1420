"""The `routing` section into a RoutingPlan: rules compiled and indexed, targets resolved, fallback."""

from __future__ import annotations

from types import MappingProxyType

from modelmux.compiler.context import CompileContext
from modelmux.compiler.resolve import Catalog, check_provider_ref
from modelmux.compiler.rules import compile_expression
from modelmux.config.models import Config
from modelmux.config.routing import Fallback, Rule
from modelmux.dsl import CompiledRule, never_matches, shadows
from modelmux.plan.models import FallbackPlan, RoutingPlan, RulePlan

STRATEGY_ALIASES = {"cost_optimized": "cost"}


def compile_routing(config: Config, catalog: Catalog, ctx: CompileContext) -> RoutingPlan:
    routing = config.routing
    strategy = STRATEGY_ALIASES.get(routing.strategy, routing.strategy)
    base = STRATEGY_ALIASES.get(routing.base or "", routing.base or "")
    if strategy == "hybrid" and not base:
        base = "round_robin"
    if strategy != "hybrid":
        base = base or strategy
    if routing.base is not None and strategy != "hybrid":
        ctx.bag.warning(
            f"`base` only applies to strategy `hybrid`; strategy {routing.strategy!r} ignores it",
            ctx.span(("routing", "base"), key=True),
            hint="remove `base` or set strategy: hybrid",
        )
    _check_geography(config, ctx)
    rules = _compile_rules(config, catalog, ctx)
    by_model: dict[str, list[int]] = {}
    unindexed: list[int] = []
    for rule in rules:
        if rule.model_equals is None:
            unindexed.append(rule.index)
        else:
            for name in rule.model_equals:
                by_model.setdefault(name, []).append(rule.index)
    custom = routing.custom
    script = _custom_script(config, ctx)
    return RoutingPlan(
        strategy=strategy,
        base=base,
        rules=tuple(rules),
        rules_by_model=MappingProxyType({k: tuple(v) for k, v in by_model.items()}),
        unindexed_rules=tuple(unindexed),
        fallback=_fallback(routing.fallback_settings()),
        geographic=routing.geographic or strategy == "geographic",
        data_residency=routing.data_residency,
        default_region=routing.default_region,
        custom_script=script,
        custom_instruction_limit=custom.instruction_limit if custom else 100_000,
        latency_decay=routing.latency_decay,
    )


def _compile_rules(config: Config, catalog: Catalog, ctx: CompileContext) -> list[RulePlan]:
    declared = dict(config.routing.attributes)
    earlier = _EarlierRules()
    plans: list[RulePlan] = []
    for index, rule in enumerate(config.routing.rules):
        path = ("routing", "rules", index, "if")
        result = compile_expression(rule.condition, path, ctx, declared)
        targets = _targets(rule, index, catalog, ctx)
        if not result.ok:
            continue
        _check_reachable(result, index, earlier.that_may_shadow(result), ctx)
        _check_models(rule, result, targets, index, catalog, ctx)
        earlier.add(index, result)
        plans.append(
            RulePlan(
                index=index,
                name=rule.name or f"rule-{index + 1}",
                text=rule.condition,
                predicate=result.predicate,
                providers=targets,
                model=rule.model,
                model_equals=result.model_equals,
                location=ctx.location(path),
            )
        )
    return plans


class _EarlierRules:
    """Earlier rules indexed by the models they test, so the shadowing check is not quadratic: a rule
    limited to some models can only shadow a later rule limited to models it also covers."""

    def __init__(self) -> None:
        self.unindexed: list[tuple[int, CompiledRule]] = []
        self.by_model: dict[str, list[tuple[int, CompiledRule]]] = {}

    def add(self, index: int, rule: CompiledRule) -> None:
        if rule.model_equals is None:
            self.unindexed.append((index, rule))
            return
        for model in rule.model_equals:
            self.by_model.setdefault(model, []).append((index, rule))

    def that_may_shadow(self, rule: CompiledRule) -> list[tuple[int, CompiledRule]]:
        if rule.model_equals is None:
            return self.unindexed
        found = {index: item for model in rule.model_equals for index, item in self.by_model.get(model, ())}
        found.update(dict(self.unindexed))
        return [(index, found[index]) for index in sorted(found)]


def _targets(rule: Rule, index: int, catalog: Catalog, ctx: CompileContext) -> tuple[str, ...]:
    if rule.provider is not None:
        check_provider_ref(rule.provider, catalog, ctx, ("routing", "rules", index, "provider"))
        return (rule.provider,)
    names = rule.providers or []
    for position, name in enumerate(names):
        check_provider_ref(name, catalog, ctx, ("routing", "rules", index, "providers", position))
    return tuple(names)


def _check_reachable(
    rule: CompiledRule, index: int, earlier: list[tuple[int, CompiledRule]], ctx: CompileContext
) -> None:
    path = ("routing", "rules", index, "if")
    if never_matches(rule):
        ctx.bag.warning(
            "this rule can never match",
            ctx.span(path),
            hint="its conditions contradict each other",
            code="unreachable-rule",
        )
        return
    for previous_index, previous in earlier:
        if shadows(previous, rule):
            ctx.bag.warning(
                f"this rule is unreachable: rule {previous_index + 1} "
                f"({ctx.location(('routing', 'rules', previous_index, 'if'))})"
                " matches every request it would",
                ctx.span(path),
                hint="first match wins: move this rule above the broader one, or remove it",
                code="shadowed-rule",
            )
            return


def _check_models(
    rule: Rule,
    compiled: CompiledRule,
    targets: tuple[str, ...],
    index: int,
    catalog: Catalog,
    ctx: CompileContext,
) -> None:
    known_targets = [t for t in targets if t in catalog.providers]
    if rule.model is not None:
        serving = catalog.serving(rule.model)
        if not serving or (known_targets and not set(serving) & set(known_targets)):
            where = f" among {', '.join(known_targets)}" if known_targets else ""
            ctx.bag.error(
                f"no provider{where} serves model {rule.model!r}",
                ctx.span(("routing", "rules", index, "model")),
                hint="add the model to a provider's `models:` list",
                code="unknown-model",
            )
        return
    if compiled.model_equals is None or not known_targets:
        return
    for model in sorted(compiled.model_equals):
        if not set(catalog.serving(model)) & set(known_targets):
            ctx.bag.error(
                f"rule sends model {model!r} to {', '.join(known_targets)}, which does not serve it",
                ctx.span(("routing", "rules", index, "provider" if rule.provider else "providers")),
                hint=f"add {model!r} to the provider's `models:`, or rewrite it with `model:`",
                code="unknown-model",
            )


def _check_geography(config: Config, ctx: CompileContext) -> None:
    routing = config.routing
    wants_regions = routing.geographic or routing.strategy == "geographic" or routing.data_residency != "off"
    if wants_regions and not config.regions:
        culprit = (
            "data_residency"
            if routing.data_residency != "off"
            else ("geographic" if routing.geographic else "strategy")
        )
        ctx.bag.error(
            "geographic routing and data residency need a `regions:` section",
            ctx.span(("routing", culprit)),
            hint="add regions: {us-east-1: {providers: [openai]}}",
            code="regions",
        )
    if routing.default_region is not None and routing.default_region not in config.regions:
        ctx.bag.error(
            f"unknown region {routing.default_region!r}",
            ctx.span(("routing", "default_region")),
            code="unknown-region",
        )


def _custom_script(config: Config, ctx: CompileContext) -> str | None:
    custom = config.routing.custom
    if custom is None:
        return None
    text = ctx.loaded.scripts.get(custom.script)
    if text is None:
        return None
    from modelmux.routing.lua import check_lua_script

    problem = check_lua_script(text, custom.instruction_limit)
    if problem is not None:
        ctx.bag.error(
            f"custom routing script does not load: {problem}",
            ctx.span(("routing", "custom", "script")),
            hint="the script must define `function route(request, candidates)` returning provider names",
            code="script",
        )
    return text


def _fallback(settings: Fallback) -> FallbackPlan:
    statuses = frozenset(s for s in settings.on if isinstance(s, int))
    return FallbackPlan(
        enabled=settings.enabled,
        max_retries=settings.max_retries if settings.enabled else 0,
        backoff=settings.backoff,
        initial_delay=settings.initial_delay,
        max_delay=settings.max_delay,
        max_retry_after=settings.max_retry_after,
        retry_statuses=statuses,
        retry_timeout="timeout" in settings.on,
        retry_connect_error="connect_error" in settings.on,
        attempt_timeout=settings.attempt_timeout,
        deadline=settings.deadline,
    )
