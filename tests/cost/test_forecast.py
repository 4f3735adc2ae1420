"""`modelmux usage forecast`: least-squares trend, weekly seasonality, cheaper equivalents — checked
against values worked out by hand, on fixtures/ledger/forecast.csv in SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelmux.cli.app import app
from modelmux.cost.equivalents import alternatives, downgrade_target, members
from modelmux.cost.forecast import biggest_spenders, fit_line, forecast_ledger, project
from modelmux.cost.ledger import Ledger
from modelmux.cost.pricing import PlanPrices, Tokens
from tests.cost.conftest import read_ledger_csv
from tests.cost.test_reports import config_for
from tests.e2e.conftest import compile_yaml

APRIL = date(2025, 4, 1)


def series(values: list[float], start: date = APRIL) -> dict[date, Decimal]:
    return {start + timedelta(days=n): Decimal(str(v)) for n, v in enumerate(values)}


def test_least_squares_line() -> None:
    assert fit_line([0, 1, 2, 3], [1, 3, 5, 7]) == (1.0, 2.0)
    assert fit_line([5], [4]) == (4.0, 0.0)
    assert fit_line([], []) == (0.0, 0.0)


def test_a_linear_month_is_projected_on_its_line() -> None:
    found = project(series([1 + 0.5 * x for x in range(10)]), "monthly", date(2025, 4, 11))
    assert found.factors is None  # fewer than 14 days: no seasonality
    assert found.spent == Decimal("32.5")
    assert (found.intercept, found.slope) == pytest.approx((1.0, 0.5))
    assert len(found.predicted) == 20 and found.predicted[0] == (date(2025, 4, 11), pytest.approx(6.0))
    assert found.projected == Decimal("247.5")  # 32.5 + sum(1 + 0.5x for x in 10..29)


def test_a_falling_trend_never_predicts_negative_spend() -> None:
    found = project(series([10, 8, 6]), "monthly", date(2025, 4, 4))
    assert found.projected == Decimal("30")  # 24 + 4 + 2 + 0...


def test_no_data_yet_projects_nothing() -> None:
    found = project({}, "weekly", date(2025, 4, 7))  # a Monday: the week has just begun
    assert (found.spent, found.projected, len(found.predicted)) == (Decimal(0), Decimal(0), 7)


def test_the_fixture_month_with_weekly_seasonality(ledger: Ledger) -> None:
    ledger.insert(read_ledger_csv("forecast"))
    found = forecast_ledger(ledger, "monthly", date(2025, 3, 17), Decimal("200"))
    # March 1-16: ten weekdays at $10, six weekend days at $5; the 17th and February are not observed
    assert len(found.observed) == 16 and found.spent == Decimal("130")
    assert found.factors is not None
    assert found.factors[0] == pytest.approx(10 / 8.125) and found.factors[5] == pytest.approx(5 / 8.125)
    assert (found.intercept, found.slope) == pytest.approx((8.125, 0.0), abs=1e-9)
    # March 17-31: eleven weekdays at $10 and four weekend days at $5
    assert found.projected == Decimal("260")
    assert found.budget == Decimal("200")


def test_cheaper_equivalents_of_the_biggest_spenders(ledger: Ledger) -> None:
    ledger.insert(read_ledger_csv("forecast"))
    found = forecast_ledger(ledger, "monthly", date(2025, 3, 17))
    spenders = biggest_spenders(ledger, found)
    summary = [(s.model, s.cost, [(a.model, a.cost, a.saving) for a in s.alternatives]) for s in spenders]
    assert summary == [
        ("gpt-4o-2024-08-06", Decimal("124.54"), [("gpt-4o-mini", Decimal("7.4724"), Decimal("117.0676"))]),
        (
            "claude-3-opus-20240229",
            Decimal("5.46"),
            [
                ("claude-3-sonnet", Decimal("1.092"), Decimal("4.368")),
                ("claude-3-haiku", Decimal("0.0912"), Decimal("5.3688")),
            ],
        ),
    ]
    assert spenders[1].tokens == Tokens(200_000, 40_000, 40_000)


def test_the_forecast_command(ledger: Ledger, storage: str, tmp_path: Path) -> None:
    ledger.insert(read_ledger_csv("forecast"))
    config = config_for(storage, tmp_path)
    result = CliRunner().invoke(app, ["usage", "forecast", config, "--as-of", "2025-03-17", "--format", "json"])
    assert result.exit_code == 0, result.stdout
    document = json.loads(result.stdout)
    assert document["spent_usd"] == 130.0 and document["projected_usd"] == 260.0
    assert document["budget_usd"] == 100.0 and document["over_budget"] is True
    assert document["biggest_spenders"][0]["alternatives"] == [
        {"model": "gpt-4o-mini", "cost_usd": 7.4724, "saving_usd": 117.0676}
    ]
    text = CliRunner().invoke(app, ["usage", "forecast", config, "--as-of", "2025-03-17"]).stdout
    assert "projected: $260.000000 (over the $100.000000 budget)" in text
    assert "-> claude-3-sonnet: $1.092000 (saves $4.368000)" in text


def test_equivalents_are_the_same_line_at_a_lower_tier() -> None:
    assert members("gpt-4o") == ["gpt-4o-mini"]
    assert members("claude-opus-4") == ["claude-sonnet-4"]
    assert members("claude-3-5-sonnet") == ["claude-3-5-haiku"]
    assert members("claude-opus-4-1") == ["claude-opus-4", "claude-sonnet-4"]  # alone: its parent line
    assert members("text-embedding-3-large") == ["text-embedding-3-small"]
    assert alternatives("unknown-model", Tokens(1, 1), Decimal(1)) == []
    assert alternatives("gpt-4o-mini", Tokens(1000, 1000), Decimal("0.00075")) == []  # nothing cheaper


def test_downgrade_picks_the_cheapest_served_model_of_the_line_the_caller_may_use(tmp_path: Path) -> None:
    config = """
providers:
  - {name: openai, type: openai, api_key: sk-test, models: [gpt-4.1, gpt-4.1-mini, gpt-4.1-nano, gpt-4o-mini]}
  - {name: anthropic, type: anthropic, api_key: sk-test, models: {claude: claude-3-opus-20240229, fast: claude-3-haiku}}
"""
    plan, _ = compile_yaml(tmp_path / "m.yaml", config, {})
    prices = PlanPrices(plan)
    assert downgrade_target(plan, prices, "gpt-4.1", None) == "gpt-4.1-nano"
    assert downgrade_target(plan, prices, "gpt-4.1", ("gpt-4.1", "gpt-4.1-mini")) == "gpt-4.1-mini"
    assert downgrade_target(plan, prices, "claude", None) == "fast"
    assert downgrade_target(plan, prices, "gpt-4o-mini", None) is None
