"""Request cost from the price table: prompt, cached prompt and completion tokens, to the micro-dollar."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from modelmux.cost.ledger import UsageRecord
from modelmux.cost.pricing import PlanPrices, Tokens, cost_of, from_pico, to_pico, tokens_from_usage, usd
from modelmux.plan.models import Price
from modelmux.routing.pricing import lookup_price
from tests.cost.conftest import read_ledger_csv
from tests.e2e.conftest import compile_yaml

CONFIG = """
providers:
  - name: cheap
    type: openai
    api_key: sk-test
    models: {gpt-4o: gpt-4o-2024-08-06}
    pricing: {gpt-4o-2024-08-06: {input: $1, output: $2}}
  - name: dear
    type: openai
    api_key: sk-test
    models: {gpt-4o: gpt-4o-2024-08-06}
"""


def test_cached_prompt_tokens_are_billed_at_the_cached_price() -> None:
    usage = {"prompt_tokens": 1000, "completion_tokens": 500, "prompt_tokens_details": {"cached_tokens": 200}}
    tokens = tokens_from_usage(usage)
    assert tokens == Tokens(1000, 500, 200)
    # gpt-4o: $2.50 input, $1.25 cached input, $10 output per million tokens
    assert cost_of(lookup_price("gpt-4o-2024-08-06"), tokens) == Decimal("0.00725")


def test_missing_or_odd_usage_fields_count_zero() -> None:
    assert tokens_from_usage(None) is None
    assert tokens_from_usage({"prompt_tokens": 8, "total_tokens": 8}) == Tokens(8, 0, 0)
    assert tokens_from_usage({"prompt_tokens": True, "completion_tokens": -3}) == Tokens(0, 0, 0)
    assert tokens_from_usage({"prompt_tokens": 5, "prompt_tokens_details": {"cached_tokens": 9}}) == Tokens(5, 0, 5)


def test_header_values_have_six_decimals_rounded_half_up() -> None:
    assert usd(Decimal("0.00725")) == "0.007250"
    assert usd(Decimal("0.0000005")) == "0.000001"
    assert usd(Decimal("0.00000049")) == "0.000000"
    assert usd(Decimal(0)) == "0.000000"


def test_pico_dollars_keep_every_table_price_exact() -> None:
    cost = cost_of(lookup_price("command-r7b"), Tokens(1, 1, 0))  # $0.0375 and $0.15 per million
    assert cost == Decimal("0.0000001875")
    assert to_pico(cost) == 187_500
    assert from_pico(to_pico(cost)) == cost


def test_a_providers_own_pricing_wins_and_the_estimate_takes_the_dearest_provider(tmp_path: Path) -> None:
    plan, _ = compile_yaml(tmp_path / "m.yaml", CONFIG, {})
    prices = PlanPrices(plan)
    assert prices.price("cheap", "gpt-4o-2024-08-06") == Price(Decimal(1), Decimal(2))
    assert prices.price("dear", "gpt-4o-2024-08-06") == lookup_price("gpt-4o")
    bound = prices.bound("gpt-4o")
    assert bound is not None and (bound.input, bound.output) == (Decimal("2.50"), Decimal("10.00"))
    assert prices.estimate("gpt-4o", 1000, 1000) == Decimal("0.0125")
    assert prices.prompt_estimate("cheap", "gpt-4o-2024-08-06", 1000) == Decimal("0.001")


def test_the_fixture_ledgers_costs_are_what_the_price_table_says() -> None:
    rows: list[UsageRecord] = read_ledger_csv("report") + read_ledger_csv("forecast")
    for row in rows:
        if row.upstream_model is None or row.status != 200:
            continue
        expected = cost_of(
            lookup_price(row.upstream_model), Tokens(row.prompt_tokens, row.completion_tokens, row.cached_tokens)
        )
        assert row.cost == expected, row.request_id
