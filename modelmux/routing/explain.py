"""Why a request goes where it goes: the explanation behind `modelmux explain` and `GET /admin/explain`.

`explain(router, plan, facts)` asks the router for its decision (without advancing round-robin turns)
and adds what a person needs to understand it: every rule tested before the one that matched (or all
of them when none did) and why each did not match, the rules the model index skipped, the candidate
providers in order with the strategy that ordered them, and why every other provider was excluded,
with the live runtime detail (open circuit, rate limit, failed health check) where there is one.

The CLI runs it on a fresh `RuntimeState`; the server runs it on the live router and state, so open
breakers, latency averages and rate limits show. Header values whose names look like credentials are
never echoed back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from modelmux.plan.models import Plan, ProviderPlan, RulePlan
from modelmux.routing.decision import RouteDecision, Router

if TYPE_CHECKING:
    from modelmux.dsl.facts import RequestFacts

STRATEGY_TEXT: Mapping[str, str] = {
    "model_specific": "config order (the rule's target order, else the order of `providers:`)",
    "round_robin": "round robin: the first provider rotates per route and model",
    "weighted": "weighted random order, proportional to `weight`",
    "least_connections": "fewest requests in flight first",
    "latency": "lowest recent latency first (unmeasured providers are explored first)",
    "cost": "lowest estimated cost first (unknown prices last)",
    "cost_optimized": "lowest estimated cost first (unknown prices last)",
    "availability": "closed circuit first, then lowest recent error rate",
    "geographic": "the request's region first, then its nearest regions",
    "custom": "the custom Lua script",
}
SENSITIVE_WORDS = ("authorization", "api-key", "apikey", "token", "secret", "password", "cookie", "key")
_SNAPSHOT_FIELDS = (
    "breaker",
    "circuit_retry_in",
    "healthy",
    "health_detail",
    "latency_ewma",
    "ttft_ewma",
    "error_rate",
    "in_flight",
    "rpm_left",
    "tpm_left",
    "penalized_for",
)
_VALUE_LIMIT = 60
UNSET = object()


@dataclass(frozen=True, slots=True)
class RuleVerdict:
    """One rule as the request met it: matched, did not match (and why), or failed while evaluated."""

    rule: RulePlan
    matched: bool
    why: str

    def to_json(self) -> dict[str, Any]:
        return {**rule_json(self.rule), "matched": self.matched, "why": self.why}


@dataclass(frozen=True, slots=True)
class Explanation:
    request: Mapping[str, Any]
    decision: RouteDecision
    tested: tuple[RuleVerdict, ...]
    skipped_by_index: int
    ordered_by: str
    candidates: tuple[Mapping[str, Any], ...]
    excluded: tuple[Mapping[str, Any], ...]
    reason: str | None
    fingerprint: str
    files: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return bool(self.decision.candidates)

    @property
    def matched(self) -> RuleVerdict | None:
        return next((verdict for verdict in self.tested if verdict.matched), None)

    def to_json(self) -> dict[str, Any]:
        decision = self.decision
        return {
            "ok": self.ok,
            "reason": self.reason,
            "fingerprint": self.fingerprint,
            "files": list(self.files),
            "request": dict(self.request),
            "route": decision.route,
            "rule": rule_json(decision.rule) if decision.rule is not None else None,
            "model": decision.model,
            "rules_tested": [verdict.to_json() for verdict in self.tested],
            "rules_skipped_by_index": self.skipped_by_index,
            "strategy": decision.strategy,
            "ordered_by": self.ordered_by,
            "candidates": [dict(item) for item in self.candidates],
            "excluded": [dict(item) for item in self.excluded],
            "notes": list(decision.notes),
            "retry_after": decision.retry_after,
        }


def facts_for(
    model: str,
    *,
    stream: bool = False,
    headers: Mapping[str, str] | None = None,
    metadata: Mapping[str, object] | None = None,
    region: str | None = None,
    identity: Mapping[str, str | None] | None = None,
) -> RequestFacts:
    """The facts the runtime would build for a minimal chat request with this model, stream flag,
    headers and metadata (raises `RequestError` for a header the runtime would reject)."""
    from modelmux.runtime.facts import REGION_HEADER, build_facts

    lowered = {name.lower(): value for name, value in (headers or {}).items()}
    if region:
        lowered[REGION_HEADER] = region
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": ""}], "stream": stream}
    if metadata:
        body["metadata"] = dict(metadata)
    return build_facts(body, lowered, identity=identity)


def scalar(text: str) -> object:
    """A command-line or query value: `true`, `3` and `0.5` mean what they look like, the rest is text."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return text
    return value if isinstance(value, bool | int | float | str) else text


def explain(router: Router, plan: Plan, facts: RequestFacts) -> Explanation:
    """The router's decision for `facts` on `plan`, explained. Consumes no slot and no round-robin turn."""
    decision = router.preview(plan, facts)
    tested, skipped = rule_verdicts(plan, facts, decision.rule)
    states = router.state
    candidates = tuple(_provider_json(p, decision.model, states.get(p.name)) for p in decision.candidates)
    excluded = tuple(_excluded_json(plan, name, why, router) for name, why in decision.excluded)
    return Explanation(
        request=request_json(facts),
        decision=decision,
        tested=tested,
        skipped_by_index=skipped,
        ordered_by=ordering_text(plan, decision),
        candidates=candidates,
        excluded=excluded,
        reason=None if decision.candidates else no_candidate_reason(plan, facts, decision),
        fingerprint=plan.fingerprint,
        files=plan.files,
    )


def rule_verdicts(plan: Plan, facts: RequestFacts, matched: RulePlan | None) -> tuple[tuple[RuleVerdict, ...], int]:
    """Every rule the router tested, up to and including the match, and how many the model index skipped."""
    routing = plan.routing
    by_index = {rule.index: rule for rule in routing.rules}
    verdicts: list[RuleVerdict] = []
    for index in routing.candidate_rules(facts.model):
        rule = by_index.get(index)
        if rule is None:
            continue
        if matched is not None and rule.index == matched.index:
            verdicts.append(RuleVerdict(rule, True, "matched" + _values(rule, facts)))
            break
        verdicts.append(RuleVerdict(rule, False, why_not(rule, facts)))
    last = matched.index if matched is not None else None
    tested = {verdict.rule.index for verdict in verdicts}
    skipped = sum(1 for rule in routing.rules if rule.index not in tested and (last is None or rule.index < last))
    return tuple(verdicts), skipped


def why_not(rule: RulePlan, facts: RequestFacts) -> str:
    """Why a rule did not match: the first part of a top-level `and` that is false, with the values read."""
    try:
        if rule.predicate(facts):
            return "matches when evaluated again (the rule reads changing state)"
    except Exception as exc:  # the router skips a failing rule; say so
        return f"failed while evaluated and was skipped: {exc}"
    from modelmux.dsl import compile_rule
    from modelmux.dsl.ast import BoolOp
    from modelmux.dsl.parser import parse

    node = parse(rule.text)
    if isinstance(node, BoolOp) and node.op == "and":
        for item in node.items:
            part = rule.text[item.span.offset : item.span.end]
            compiled = compile_rule(part)
            if compiled.ok and not _safe(compiled.predicate, facts):
                return f"`{part}` is false" + _values(rule, facts, part)
    return "the condition is false" + _values(rule, facts)


def _safe(predicate: Any, facts: RequestFacts) -> bool:
    try:
        return bool(predicate(facts))
    except Exception:
        return False


def _values(rule: RulePlan, facts: RequestFacts, text: str | None = None) -> str:
    """The request's values of the attributes the rule (or one part of it) reads, e.g. ` (stream = false)`."""
    from modelmux.dsl.ast import Attribute, Header, Metadata
    from modelmux.dsl.parser import parse

    node = parse(text if text is not None else rule.text)
    shown: dict[str, str] = {}
    for ref in _references(node):
        if isinstance(ref, Attribute):
            label, value = ref.name, getattr(facts, ref.name, None)
        elif isinstance(ref, Header):
            label, value = f'headers["{ref.key}"]', facts.headers.get(ref.key)
            value = "***" if value is not None and _sensitive(ref.key) else value
        elif isinstance(ref, Metadata):
            label, value = "metadata." + ".".join(ref.path), _metadata(facts.metadata, ref.path)
        else:
            continue
        shown.setdefault(label, _show(value))
    return f" ({', '.join(f'{k} = {v}' for k, v in shown.items())})" if shown else ""


def _references(node: Any) -> list[Any]:
    from modelmux.dsl.ast import Attribute, BoolOp, Call, Compare, Header, ListExpr, Metadata, Not

    if isinstance(node, Attribute | Header | Metadata):
        return [node]
    if isinstance(node, Compare):
        return _references(node.left) + _references(node.right)
    if isinstance(node, Not):
        return _references(node.operand)
    if isinstance(node, BoolOp | ListExpr):
        return [ref for item in node.items for ref in _references(item)]
    if isinstance(node, Call):
        return [ref for arg in node.args for ref in _references(arg)]
    return []


def _metadata(metadata: Mapping[str, object], path: tuple[str, ...]) -> object:
    value: object = metadata
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            return UNSET
        value = value[key]
    return value


def _show(value: object) -> str:
    if value is UNSET:
        return "unset"
    text = orjson.dumps(value, default=str).decode()
    return text if len(text) <= _VALUE_LIMIT else text[: _VALUE_LIMIT - 3] + "..."


def _sensitive(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in SENSITIVE_WORDS)


def rule_json(rule: RulePlan) -> dict[str, Any]:
    return {
        "index": rule.index,
        "name": rule.name,
        "if": rule.text,
        "location": rule.location,
        "providers": list(rule.providers),
        "model": rule.model,
    }


def request_json(facts: RequestFacts) -> dict[str, Any]:
    """What the explanation was computed for; credential-like header values are masked."""
    headers = {name: ("***" if _sensitive(name) else value) for name, value in sorted(facts.headers.items())}
    return {
        "model": facts.model,
        "stream": facts.stream,
        "region": facts.region,
        "latency": facts.latency,
        "user": facts.user,
        "org": facts.org,
        "team": facts.team,
        "role": facts.role,
        "headers": headers,
        "metadata": {name: _plain(value) for name, value in sorted(facts.metadata.items())},
    }


def _plain(value: object) -> object:
    return value if isinstance(value, bool | int | float | str) or value is None else str(value)


def ordering_text(plan: Plan, decision: RouteDecision) -> str:
    routing = plan.routing
    if routing.strategy == "hybrid":
        text = f"rules first, then {STRATEGY_TEXT.get(routing.base, routing.base)}"
    else:
        text = STRATEGY_TEXT.get(routing.strategy, routing.strategy)
    if routing.strategy != "custom" and (routing.geographic or routing.data_residency != "off"):
        text += "; then the request's region first"
    return text


def _provider_json(provider: ProviderPlan, model: str, state: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "name": provider.name,
        "type": provider.type,
        "upstream_model": provider.upstream_model(model) or model,
        "region": provider.region,
        "weight": provider.weight,
    }
    if state is not None:
        snapshot = state.snapshot()
        item["state"] = {name: snapshot.get(name) for name in _SNAPSHOT_FIELDS}
    return item


def _excluded_json(plan: Plan, name: str, why: str, router: Router) -> dict[str, Any]:
    item: dict[str, Any] = {"name": name, "reason": why, "detail": None}
    state = router.state.get(name)
    if state is not None and name in plan.provider_index:
        verdict = state.availability()
        if not verdict.ok and verdict.reason == why:
            item["detail"] = verdict.detail
    return item


def no_candidate_reason(plan: Plan, facts: RequestFacts, decision: RouteDecision) -> str:
    if not plan.providers_for(decision.model):
        return f"no provider serves model {decision.model!r}"
    if decision.unavailable:
        wait = decision.retry_after or 0.0
        return f"every provider that could serve {decision.model!r} is unavailable now (retry in {wait:.1f}s)"
    return f"every provider that serves {decision.model!r} was excluded (see `excluded`)"


class QueryArgs(Protocol):
    """What `GET /admin/explain` reads its parameters from (Quart's `request.args`)."""

    def get(self, key: str) -> str | None: ...

    def getlist(self, key: str) -> list[str]: ...


def query_facts(args: QueryArgs) -> RequestFacts:
    """Facts from `?model=M&stream=true&header=K:V&metadata=K=V&region=R&user=U&org=O&team=T&role=R`."""
    from modelmux.errors import RequestError

    model = args.get("model")
    if not model:
        raise RequestError(400, "`model` is required, e.g. /admin/explain?model=gpt-4o", param="model")
    headers = _query_pairs(args.getlist("header"), ":", "header")
    metadata = {name: scalar(value) for name, value in _query_pairs(args.getlist("metadata"), "=", "metadata").items()}
    identity = {name: args.get(name) for name in ("user", "org", "team", "role")}
    return facts_for(
        model,
        stream=(args.get("stream") or "false").strip().lower() in ("1", "true", "yes", "on"),
        headers=headers,
        metadata=metadata,
        region=args.get("region") or None,
        identity=identity if any(identity.values()) else None,
    )


def _query_pairs(values: list[str], separator: str, param: str) -> dict[str, str]:
    from modelmux.errors import RequestError

    found: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition(separator)
        if not sep or not name.strip():
            raise RequestError(400, f"`{param}` takes NAME{separator}VALUE, got {item[:40]!r}", param=param)
        found[name.strip()] = value.strip()
    return found
