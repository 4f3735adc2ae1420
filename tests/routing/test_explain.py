"""The explanation behind `modelmux explain` and `GET /admin/explain`."""

from __future__ import annotations

from typing import Any

import pytest

from modelmux.errors import RequestError
from modelmux.routing import CIRCUIT_OPEN, DOES_NOT_SERVE, NOT_IN_TARGET, RATE_LIMITED, Router, RuntimeState
from modelmux.routing.explain import explain, facts_for, query_facts, scalar
from modelmux.routing.state import UNHEALTHY
from modelmux.runtime.app import create_app
from modelmux.runtime.services import Services
from tests.routing.support import FakeClock, compile_plan

RULES = """
providers:
  - {name: openai, type: mock, models: [gpt-4, gpt-4o]}
  - {name: anthropic, type: mock, models: {gpt-4: claude-3-opus, claude: claude-3-5-sonnet}}
  - {name: cohere, type: mock, models: [command-r, gpt-4], rate_limit: {rpm: 1}}
  - {name: local, type: mock, models: [llama]}
routing:
  strategy: hybrid
  base: round_robin
  rules:
    - if: model == "gpt-4" and stream == true
      providers: [anthropic, openai]
      name: streams
    - if: metadata.cost_sensitive == true and headers["x-tier"] == "free"
      provider: cohere
    - if: model == "llama"
      provider: local
    - if: metadata.tier == "cheap"
      model: gpt-4o
"""


def fresh(plan_text: str = RULES) -> tuple[Router, Any]:
    clock = FakeClock()
    return Router(RuntimeState(clock=clock)), compile_plan(plan_text)


def test_a_matching_rule_is_named_with_its_location_and_earlier_rules_say_why_not() -> None:
    router, plan = fresh()
    facts = facts_for("gpt-4", metadata={"cost_sensitive": True}, headers={"X-Tier": "free"})
    explanation = explain(router, plan, facts)
    assert explanation.ok
    assert explanation.decision.route == "rule-2"
    first, second = explanation.tested
    assert not first.matched and first.rule.name == "streams"
    assert first.why == "`stream == true` is false (stream = false)"
    assert second.matched and second.why.startswith("matched")
    assert second.rule.location == "test.yaml:14:11"
    doc = explanation.to_json()
    assert doc["rule"]["location"] == "test.yaml:14:11"
    assert doc["rule"]["if"] == 'metadata.cost_sensitive == true and headers["x-tier"] == "free"'
    assert [c["name"] for c in doc["candidates"]] == ["cohere"]
    assert {"name": "openai", "reason": NOT_IN_TARGET, "detail": None} in doc["excluded"]
    assert {"name": "local", "reason": DOES_NOT_SERVE, "detail": None} in doc["excluded"]


def test_no_match_lists_every_tested_rule_and_counts_those_the_index_skipped() -> None:
    router, plan = fresh()
    explanation = explain(router, plan, facts_for("gpt-4", headers={"x-tier": "paid"}))
    assert explanation.decision.rule is None and explanation.decision.route == "default"
    assert [v.rule.name for v in explanation.tested] == ["streams", "rule-2", "rule-4"]
    assert not any(v.matched for v in explanation.tested)
    assert explanation.tested[1].why == "`metadata.cost_sensitive == true` is false (metadata.cost_sensitive = unset)"
    assert explanation.tested[2].why == "the condition is false (metadata.tier = unset)"
    assert explanation.skipped_by_index == 1  # rule-3 tests model == "llama"
    assert explanation.ordered_by == "rules first, then round robin: the first provider rotates per route and model"


def test_a_model_rewrite_shows_the_new_model_and_upstream_names() -> None:
    router, plan = fresh()
    doc = explain(router, plan, facts_for("gpt-4", metadata={"tier": "cheap"})).to_json()
    assert doc["route"] == "rule-4" and doc["model"] == "gpt-4o"
    assert [(c["name"], c["upstream_model"]) for c in doc["candidates"]] == [("openai", "gpt-4o")]
    doc = explain(router, plan, facts_for("gpt-4", stream=True)).to_json()
    assert [(c["name"], c["upstream_model"]) for c in doc["candidates"]] == [
        ("anthropic", "claude-3-opus"),
        ("openai", "gpt-4"),
    ]


def test_explaining_leaves_round_robin_turns_alone() -> None:
    router, plan = fresh()
    facts = facts_for("gpt-4")
    orders = {tuple(c["name"] for c in explain(router, plan, facts).to_json()["candidates"]) for _ in range(5)}
    assert len(orders) == 1
    decided = [router.decide(plan, facts).candidates[0].name for _ in range(3)]
    assert decided == ["openai", "anthropic", "cohere"]


def test_live_state_shows_open_circuits_rate_limits_and_failed_health_checks() -> None:
    router, plan = fresh()
    state = router.state
    openai = state.provider(plan.provider_index["openai"])
    for _ in range(5):
        openai.on_start()
        openai.on_failure("status_5xx")
    assert state.provider(plan.provider_index["cohere"]).try_acquire(1)
    state.provider(plan.provider_index["anthropic"]).mark_unhealthy("GET /models answered 503", 30.0)
    explanation = explain(router, plan, facts_for("gpt-4"))
    assert not explanation.ok and explanation.decision.unavailable
    assert explanation.reason is not None and "unavailable" in explanation.reason
    excluded = {item["name"]: item for item in explanation.to_json()["excluded"]}
    assert excluded["openai"]["reason"] == CIRCUIT_OPEN
    assert excluded["openai"]["detail"].startswith("circuit open, retry in")
    assert excluded["cohere"]["reason"] == RATE_LIMITED
    assert excluded["anthropic"] == {
        "name": "anthropic",
        "reason": UNHEALTHY,
        "detail": "health check failed: GET /models answered 503",
    }


def test_candidates_carry_their_runtime_state() -> None:
    router, plan = fresh()
    openai = router.state.provider(plan.provider_index["openai"])
    openai.on_start()
    openai.on_success(0.25, None, 10)
    doc = explain(router, plan, facts_for("gpt-4o")).to_json()
    assert doc["candidates"][0]["state"]["latency_ewma"] == 0.25
    assert doc["candidates"][0]["state"]["breaker"] == "closed"
    assert doc["candidates"][0]["state"]["healthy"] is True


def test_an_unknown_model_has_a_reason() -> None:
    router, plan = fresh()
    explanation = explain(router, plan, facts_for("nope"))
    assert not explanation.ok
    assert explanation.reason == "no provider serves model 'nope'"


def test_credential_headers_are_masked_in_the_request_and_the_reasons() -> None:
    plan_text = RULES.replace('headers["x-tier"] == "free"', 'headers["x-api-key"] == "free"')
    router, plan = fresh(plan_text)
    facts = facts_for("gpt-4", headers={"Authorization": "Bearer sk-secret-1", "X-Api-Key": "sk-secret-2"})
    text = str(explain(router, plan, facts).to_json())
    assert "sk-secret" not in text
    assert "'authorization': '***'" in text


def test_facts_and_scalars_are_built_like_the_runtime() -> None:
    facts = facts_for("m", stream=True, headers={"X-ModelMux-Meta-Tier": "3"}, region="eu", metadata={"a": True})
    assert facts.stream and facts.region == "eu"
    assert dict(facts.metadata) == {"a": True, "tier": 3}
    assert [scalar("true"), scalar("0.5"), scalar("eu-west"), scalar("[1]")] == [True, 0.5, "eu-west", "[1]"]
    with pytest.raises(RequestError):
        facts_for("m", headers={"X-ModelMux-Latency-Budget": "fast"})


class Args(dict[str, list[str]]):
    def get(self, key: str) -> str | None:  # type: ignore[override]
        values = super().get(key)
        return values[0] if values else None

    def getlist(self, key: str) -> list[str]:
        return list(super().get(key) or [])


def test_query_facts_reads_the_admin_query_string() -> None:
    args = Args(model=["gpt-4"], stream=["true"], header=["x-tier:free"], metadata=["cost_sensitive=true"], org=["o"])
    facts = query_facts(args)
    assert facts.model == "gpt-4" and facts.stream and facts.org == "o"
    assert facts.headers["x-tier"] == "free" and facts.metadata["cost_sensitive"] is True
    with pytest.raises(RequestError) as missing:
        query_facts(Args())
    assert missing.value.status == 400
    with pytest.raises(RequestError):
        query_facts(Args(model=["m"], header=["no-separator"]))


async def test_admin_explain_answers_from_the_live_router_and_state() -> None:
    plan = compile_plan(RULES)
    app = create_app(plan)
    services: Services = app.config["MODELMUX_SERVICES"]
    openai = services.state.provider(plan.provider_index["openai"])
    for _ in range(5):
        openai.on_start()
        openai.on_failure("timeout")
    client = app.test_client()
    response = await client.get(
        "/admin/explain",
        query_string=[("model", "gpt-4"), ("stream", "true"), ("header", "x-tier:free")],
    )
    assert response.status_code == 200
    doc = await response.get_json()
    assert doc["route"] == "streams" and doc["ok"] is True
    assert [c["name"] for c in doc["candidates"]] == ["anthropic"]
    assert {"name": "openai", "reason": CIRCUIT_OPEN}.items() <= next(
        item for item in doc["excluded"] if item["name"] == "openai"
    ).items()
    missing = await client.get("/admin/explain")
    assert missing.status_code == 400
    assert (await missing.get_json())["error"]["param"] == "model"
    await services.aclose()
