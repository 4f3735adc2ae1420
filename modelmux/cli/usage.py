"""`modelmux usage report|forecast CONFIG`: read the usage ledger the config names.

Exit codes: 0 done; 1 the config does not compile or the ledger cannot be read; 2 a usage error (cost
tracking off, a bad date).
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from modelmux.cost.forecast import Forecast, Spender
    from modelmux.cost.ledger import Ledger
    from modelmux.plan.models import Plan

usage_app = typer.Typer(name="usage", help="The usage ledger: reports and forecasts.", no_args_is_help=True)


class ReportBy(StrEnum):
    key = "key"
    user = "user"
    org = "org"
    team = "team"
    model = "model"
    provider = "provider"
    upstream_model = "upstream_model"
    route = "route"


class ReportFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


class ForecastFormat(StrEnum):
    table = "table"
    json = "json"


class Period(StrEnum):
    daily = "daily"
    weekly = "weekly"
    monthly = "monthly"


@usage_app.command("report")
def report(
    config: Annotated[str, typer.Argument(help="Config file (its analytics.cost_tracking.storage names the ledger).")],
    by: Annotated[ReportBy | None, typer.Option("--by", help="Group by this dimension.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Start date (UTC), default: this month.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="End date, inclusive (UTC), default: now.")] = None,
    output: Annotated[ReportFormat, typer.Option("--format", help="Output format.")] = ReportFormat.table,
) -> None:
    """Cost and tokens per key, user, org, team, model or provider over a date range."""
    raise typer.Exit(run_report(config, by.value if by else None, since, until, output.value))


@usage_app.command("forecast")
def forecast(
    config: Annotated[str, typer.Argument(help="Config file.")],
    period: Annotated[Period, typer.Option("--period", help="The budget period to project.")] = Period.monthly,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Forecast as of this date (UTC), default today.")] = None,
    top: Annotated[int, typer.Option("--top", min=0, help="How many of the biggest spenders to list.")] = 5,
    output: Annotated[ForecastFormat, typer.Option("--format", help="Output format.")] = ForecastFormat.table,
) -> None:
    """Project the period's spend from the ledger; list cheaper equivalents of the biggest spenders."""
    raise typer.Exit(run_forecast(config, period.value, as_of, top, output.value))


def open_config_ledger(config: str) -> tuple[Ledger | None, int, Plan | None]:
    """The ledger a config names (migrated) and the plan, or (None, exit code, None)."""
    from modelmux.cli.render import text_report
    from modelmux.compiler.compile import compile_file
    from modelmux.config.env import current_environment
    from modelmux.cost.ledger import open_ledger, sqlite_path, storage_of

    result = compile_file(config, current_environment())
    if result.plan is None:
        sys.stderr.write(text_report(config, result) + "\n")
        return None, 1, None
    storage = storage_of(result.plan)
    if storage is None:
        sys.stderr.write(f"{config}: cost tracking is off (set analytics.cost_tracking), so there is no ledger\n")
        return None, 2, None
    if storage.url.startswith("sqlite:"):
        path = sqlite_path(storage.url, storage.base_dir)
        if not os.path.exists(path):
            sys.stderr.write(f"no usage ledger at {path} yet (the server creates it on its first start)\n")
            return None, 1, None
    ledger = open_ledger(storage.url, storage.base_dir)
    try:
        ledger.migrate()
    except Exception as exc:
        sys.stderr.write(f"cannot open the usage ledger: {type(exc).__name__}\n")
        return None, 1, None
    return ledger, 0, result.plan


def _gateway_budget(plan: Plan | None, period: str) -> Decimal | None:
    analytics = plan.sections.get("analytics") if plan else None
    budgets = ((analytics or {}).get("cost_tracking") or {}).get("budgets") or {}
    value = budgets.get(period)
    return Decimal(value) if value is not None else None


def run_report(config: str, by: str | None, since: str | None, until: str | None, output: str) -> int:
    from modelmux.cost.reports import build_report, render, report_range

    try:
        start, stop = report_range(since, until, datetime.now(UTC))
    except ValueError as exc:
        sys.stderr.write(f"bad date: {exc}\n")
        return 2
    ledger, code, _ = open_config_ledger(config)
    if ledger is None:
        return code
    try:
        sys.stdout.write(render(build_report(ledger, by, start, stop), output))
    finally:
        ledger.close()
    return 0


def run_forecast(config: str, period: str, as_of: str | None, top: int, output: str) -> int:
    from modelmux.cost.forecast import biggest_spenders, forecast_dict, forecast_ledger

    try:
        day = date.fromisoformat(as_of) if as_of else datetime.now(UTC).date()
    except ValueError as exc:
        sys.stderr.write(f"bad --as-of date: {exc}\n")
        return 2
    ledger, code, plan = open_config_ledger(config)
    if ledger is None:
        return code
    try:
        found = forecast_ledger(ledger, period, day, _gateway_budget(plan, period))
        spenders = biggest_spenders(ledger, found, top)
    finally:
        ledger.close()
    if output == "json":
        import orjson

        sys.stdout.write(orjson.dumps(forecast_dict(found, spenders), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        sys.stdout.write(forecast_text(found, spenders))
    return 0


WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def forecast_text(found: Forecast, spenders: list[Spender]) -> str:
    from modelmux.cost.pricing import usd

    lines = [
        f"{found.period} spend from {found.start} to {found.end} (UTC), as of {found.as_of}",
        f"  observed: {len(found.observed)} complete days, spent ${usd(found.spent)}",
        f"  trend: ${found.intercept:.6f} + ${found.slope:.6f} per day (least squares)",
    ]
    if found.factors:
        factors = ", ".join(f"{WEEKDAYS[k]} {v:.3f}" for k, v in sorted(found.factors.items()))
        lines.append(f"  weekly seasonality: {factors}")
    else:
        lines.append("  weekly seasonality: off (fewer than 14 days observed)")
    projected = f"  projected: ${usd(found.projected)}"
    if found.budget is not None:
        verdict = "over" if found.projected > found.budget else "within"
        projected += f" ({verdict} the ${usd(found.budget)} budget)"
    lines += [projected, ""]
    if spenders:
        lines.append("biggest spenders and cheaper equivalents (on their actual token mix):")
    for spender in spenders:
        lines.append(f"  {spender.model}: ${usd(spender.cost)}")
        for alt in spender.alternatives:
            lines.append(f"    -> {alt.model}: ${usd(alt.cost)} (saves ${usd(alt.saving)})")
        if not spender.alternatives:
            lines.append("    (no cheaper equivalent in the price table)")
    return "\n".join(lines) + "\n"
