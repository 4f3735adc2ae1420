"""`modelmux usage report` on the fixture ledger (fixtures/ledger/report.csv), on SQLite and PostgreSQL:
totals per dimension match sums worked out by hand from the CSV."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelmux.cli.app import app
from modelmux.cost.ledger import Ledger
from modelmux.cost.reports import build_report, parse_when, report_range
from tests.cost.conftest import read_ledger_csv

MARCH = ("--since", "2025-03-01", "--until", "2025-03-31")


def config_for(storage: str, folder: Path) -> str:
    path = folder / "modelmux.yaml"
    path.write_text(
        "providers:\n  - {name: openai, type: openai, api_key: sk-test, models: [gpt-4o]}\n"
        f"analytics:\n  cost_tracking:\n    storage: {storage}\n    budgets: {{monthly: $100}}\n",
        encoding="utf-8",
    )
    return str(path)


@pytest.fixture
def report_config(ledger: Ledger, storage: str, tmp_path: Path) -> str:
    ledger.insert(read_ledger_csv("report"))
    return config_for(storage, tmp_path)


def usage(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["usage", *args])
    return result.exit_code, result.stdout


def test_report_by_key_as_json(report_config: str) -> None:
    code, out = usage("report", report_config, "--by", "key", *MARCH, "--format", "json")
    assert code == 0, out
    document = json.loads(out)
    assert document["since"] == "2025-03-01T00:00:00+00:00"
    assert document["until"] == "2025-04-01T00:00:00+00:00"
    assert [(r["group"], r["requests"], r["cost_usd"]) for r in document["rows"]] == [
        ("alice-key", 3, 0.02795),
        ("bob-key", 2, 0.02146),
        ("carol-key", 2, 0.00175),
        (None, 1, 0.000021),
    ]
    assert document["rows"][0]["prompt_tokens"] == 12000
    assert document["total"] == {
        "requests": 8,
        "prompt_tokens": 23600,
        "completion_tokens": 4560,
        "cached_tokens": 1200,
        "cost_usd": 0.051181,
    }


@pytest.mark.parametrize(
    ("by", "expected"),
    [
        ("provider", [("anthropic", "0.039300"), ("openai", "0.011881")]),
        (
            "model",
            [
                ("claude-3-5-sonnet", "0.039300"),
                ("gpt-4o", "0.009000"),
                ("gpt-4o-mini", "0.002721"),
                ("text-embedding-3-small", "0.000160"),
            ],
        ),
        ("org", [("acme", "0.049410"), ("globex", "0.001750"), ("(none)", "0.000021")]),
        ("user", [("alice", "0.027950"), ("bob", "0.021460"), ("carol", "0.001750"), ("(none)", "0.000021")]),
        ("team", [("search", "0.027950"), ("ads", "0.021460"), ("(none)", "0.001771")]),
    ],
)
def test_report_by_each_dimension_as_csv(report_config: str, by: str, expected: list[tuple[str, str]]) -> None:
    code, out = usage("report", report_config, "--by", by, *MARCH, "--format", "csv")
    assert code == 0, out
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == [by, "requests", "prompt_tokens", "completion_tokens", "cached_tokens", "cost_usd"]
    assert [(r[0], r[5]) for r in rows[1:-1]] == expected
    assert rows[-1] == ["total", "8", "23600", "4560", "1200", "0.051181"]


def test_report_as_a_table(report_config: str) -> None:
    code, out = usage("report", report_config, "--by", "provider", *MARCH)
    assert code == 0, out
    assert "usage 2025-03-01 00:00 to 2025-04-01 00:00 UTC" in out
    cells = [[cell.strip() for cell in line.split("│")[1:-1]] for line in out.splitlines() if "│" in line]
    assert cells == [
        ["anthropic", "2", "4000", "2000", "1000", "0.039300"],
        ["openai", "6", "19600", "2560", "200", "0.011881"],
        ["total", "8", "23600", "4560", "1200", "0.051181"],
    ]


def test_a_range_with_times_is_half_open(ledger: Ledger) -> None:
    ledger.insert(read_ledger_csv("report"))
    since, until = parse_when("2025-03-31T23:59:59.999999Z"), parse_when("2025-04-01T00:00:00")
    assert (
        build_report(ledger, None, since, until).total.cost.normalize()
        == build_report(ledger, "key", since, until).rows[0].cost.normalize()
    )
    assert str(build_report(ledger, None, since, until).total.cost.normalize()) == "0.018"


def test_default_range_is_this_month_to_now() -> None:
    now = datetime(2025, 3, 20, 15, 30, tzinfo=UTC)
    assert report_range(None, None, now) == (datetime(2025, 3, 1, tzinfo=UTC), now)
    assert report_range("2025-03-10", "2025-03-10", now) == (
        datetime(2025, 3, 10, tzinfo=UTC),
        datetime(2025, 3, 11, tzinfo=UTC),
    )
    with pytest.raises(ValueError):
        report_range("2025-03-10", "2025-03-09", now)


def test_usage_errors(tmp_path: Path) -> None:
    missing = config_for("sqlite:///never.db", tmp_path)
    code, _ = usage("report", missing)
    assert code == 1
    code, _ = usage("report", missing, "--since", "March")
    assert code == 2
    off = tmp_path / "off.yaml"
    off.write_text("providers:\n  - {name: m, type: mock}\n", encoding="utf-8")
    code, _ = usage("report", str(off))
    assert code == 2
