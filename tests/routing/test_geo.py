from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from modelmux.routing import CIRCUIT_OPEN, OUTSIDE_REGION
from tests.routing.support import Harness, compile_plan

REGIONS = """
providers:
  - {name: openai, type: mock, models: [gpt-4]}
  - {name: anthropic, type: mock, models: [gpt-4]}
  - {name: vertex_ai, type: mock, models: [gpt-4]}
  - {name: bedrock, type: mock, models: [gpt-4]}
  - {name: frankfurt, type: mock, models: [gpt-4], region: eu}
regions:
  us-east-1:
    providers: [openai, anthropic]
    aliases: [us]
    nearest: [asia-southeast1]
  europe-west1:
    providers: [vertex_ai]
    aliases: [eu, europe]
    nearest: [us-east-1]
  asia-southeast1:
    providers: [bedrock]
routing:
  strategy: @STRATEGY@
  data_residency: @RESIDENCY@
@EXTRA@"""


def _yaml(strategy: str, residency: str, extra: str) -> str:
    return REGIONS.replace("@STRATEGY@", strategy).replace("@RESIDENCY@", residency).replace("@EXTRA@", extra)


def _harness(strategy: str = "geographic", residency: str = "off", extra: str = "") -> Harness:
    return Harness(compile_plan(_yaml(strategy, residency, extra)))


def test_geographic_orders_region_then_nearest_then_rest() -> None:
    h = _harness()
    assert h.names(region="us-east-1") == ["openai", "anthropic", "bedrock", "vertex_ai", "frankfurt"]
    assert h.names(region="europe-west1") == ["vertex_ai", "frankfurt", "openai", "anthropic", "bedrock"]
    assert h.names(region="asia-southeast1") == ["bedrock", "openai", "anthropic", "vertex_ai", "frankfurt"]


def test_region_by_alias_and_provider_region_field() -> None:
    h = _harness()
    assert h.names(region="EU")[:2] == ["vertex_ai", "frankfurt"]
    assert h.names(region="us")[:2] == ["openai", "anthropic"]


def test_default_region_applies_without_a_request_region() -> None:
    h = _harness(extra="  default_region: asia-southeast1\n")
    assert h.names()[0] == "bedrock"
    assert h.names(region="europe")[0] == "vertex_ai"


def test_no_region_keeps_config_order() -> None:
    h = _harness()
    assert h.names() == ["openai", "anthropic", "vertex_ai", "bedrock", "frankfurt"]


def test_enforced_residency_never_leaves_the_region() -> None:
    h = _harness(strategy="round_robin", residency="enforced")
    for _ in range(5):
        decision = h.decide(region="europe-west1")
        assert {p.name for p in decision.candidates} == {"vertex_ai", "frankfurt"}
        for name in ("openai", "anthropic", "bedrock"):
            assert (name, OUTSIDE_REGION) in decision.excluded


def test_enforced_residency_fails_rather_than_leave_the_region() -> None:
    h = _harness(residency="enforced")
    for name in ("vertex_ai", "frankfurt"):
        for _ in range(5):
            h.provider(name).on_start()
            h.provider(name).on_failure("status_5xx")
    decision = h.decide(region="eu")
    assert decision.candidates == ()
    assert decision.unavailable
    assert ("vertex_ai", CIRCUIT_OPEN) in decision.excluded
    assert ("openai", OUTSIDE_REGION) in decision.excluded


def test_enforced_residency_with_an_unknown_region_matches_provider_region_only() -> None:
    h = _harness(residency="enforced")
    assert h.names(region="mars") == []
    h2 = Harness(compile_plan(_yaml("model_specific", "enforced", "").replace("region: eu}", "region: mars}")))
    assert h2.names(region="mars") == ["frankfurt"]


def test_preferred_residency_puts_region_first_over_any_strategy() -> None:
    h = _harness(strategy="round_robin", residency="preferred")
    firsts = [h.names(region="asia-southeast1") for _ in range(4)]
    assert all(order[0] == "bedrock" for order in firsts)
    assert all(len(order) == 5 for order in firsts)
    assert firsts[0][1:] != firsts[1][1:]  # the rest still rotates


def test_geographic_flag_with_another_strategy() -> None:
    h = _harness(strategy="least_connections", extra="  geographic: true\n")
    h.provider("openai").on_start()
    assert h.names(region="us") == ["anthropic", "openai", "bedrock", "vertex_ai", "frankfurt"]


@settings(max_examples=30, deadline=None)
@given(
    region=st.sampled_from(["us-east-1", "us", "europe-west1", "eu", "europe", "asia-southeast1"]),
    strategy=st.sampled_from(["round_robin", "weighted", "least_connections", "latency", "cost", "geographic"]),
    broken=st.sets(st.sampled_from(["openai", "anthropic", "vertex_ai", "bedrock", "frankfurt"])),
)
def test_enforced_residency_property(region: str, strategy: str, broken: set[str]) -> None:
    h = _harness(strategy=strategy, residency="enforced")
    for name in broken:
        for _ in range(5):
            h.provider(name).on_start()
            h.provider(name).on_failure("status_5xx")
    allowed = {
        "us-east-1": {"openai", "anthropic"},
        "us": {"openai", "anthropic"},
        "asia-southeast1": {"bedrock"},
    }.get(region, {"vertex_ai", "frankfurt"})
    names = set(h.names(region=region))
    assert names <= allowed
    assert names == allowed - broken
