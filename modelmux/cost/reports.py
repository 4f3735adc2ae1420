"""Usage reports from the ledger: totals per key, user, org, team, model or provider over a time range,
rendered as a table, JSON or CSV (`modelmux usage report`), or as the scheduled report's message.

Ranges are `[since, until)` in UTC. On the command line a bare date means a whole day: `--since
2025-03-01 --until 2025-03-31` covers March 1 00:00 to April 1 00:00; a date with a time is taken as
it is (UTC unless it names an offset). Without `--since` a report starts at the current month's first
day; without `--until` it runs to now.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson

from modelmux.cost.ledger import GroupTotal, Ledger
from modelmux.cost.periods import day_start, period_start
from modelmux.cost.pricing import ZERO, usd

FIELDS = ("requests", "prompt_tokens", "completion_tokens", "cached_tokens", "cost_usd")


@dataclass(frozen=True, slots=True)
class Report:
    by: str | None
    since: datetime
    until: datetime
    rows: list[GroupTotal]
    total: GroupTotal


def parse_when(text: str, *, end: bool = False) -> datetime:
    """A date (a whole day: its start, or with `end` the next day's start) or an ISO datetime."""
    value = text.strip()
    try:
        day = date.fromisoformat(value)
    except ValueError:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return day_start(day + timedelta(days=1) if end else day)


def report_range(since: str | None, until: str | None, now: datetime) -> tuple[datetime, datetime]:
    start = parse_when(since) if since else period_start("monthly", now)
    stop = parse_when(until, end=True) if until else now
    if stop <= start:
        raise ValueError(
            f"the range is empty: --until ({stop:%Y-%m-%d %H:%M}) is not after --since ({start:%Y-%m-%d %H:%M})"
        )
    return start, stop


def build_report(ledger: Ledger, by: str | None, since: datetime, until: datetime) -> Report:
    rows = ledger.grouped(by, since, until) if by else []
    totals = ledger.grouped(None, since, until)
    total = totals[0] if totals else GroupTotal(None, 0, 0, 0, 0, ZERO)
    return Report(by, since, until, rows, GroupTotal("total", *_numbers(total)))


def _numbers(group: GroupTotal) -> tuple[int, int, int, int, Decimal]:
    return group.requests, group.prompt_tokens, group.completion_tokens, group.cached_tokens, group.cost


def _row(group: GroupTotal) -> dict[str, Any]:
    return {
        "group": group.group,
        "requests": group.requests,
        "prompt_tokens": group.prompt_tokens,
        "completion_tokens": group.completion_tokens,
        "cached_tokens": group.cached_tokens,
        "cost_usd": float(usd(group.cost)),
    }


def report_dict(report: Report) -> dict[str, Any]:
    return {
        "by": report.by,
        "since": report.since.isoformat(),
        "until": report.until.isoformat(),
        "rows": [_row(group) for group in report.rows],
        "total": {k: v for k, v in _row(report.total).items() if k != "group"},
    }


def render_json(report: Report) -> str:
    return orjson.dumps(report_dict(report), option=orjson.OPT_INDENT_2).decode() + "\n"


def render_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([report.by or "group", *FIELDS])
    for group in [*report.rows, report.total]:
        writer.writerow([_label(group), *_cells(group)])
    return out.getvalue()


def _label(group: GroupTotal) -> str:
    return "(none)" if group.group is None else str(group.group)


def _cells(group: GroupTotal) -> list[str]:
    return [
        str(group.requests),
        str(group.prompt_tokens),
        str(group.completion_tokens),
        str(group.cached_tokens),
        usd(group.cost),
    ]


def render_table(report: Report, width: int = 120) -> str:
    from rich.console import Console
    from rich.table import Table

    title = f"usage {report.since:%Y-%m-%d %H:%M} to {report.until:%Y-%m-%d %H:%M} UTC"
    table = Table(title=title, show_footer=False)
    table.add_column(report.by or "")
    for name in FIELDS:
        table.add_column(name.replace("_", " "), justify="right")
    for group in report.rows:
        table.add_row(_label(group), *_cells(group))
    table.add_row("total", *_cells(report.total), style="bold")
    console = Console(width=width, file=io.StringIO(), color_system=None)
    console.print(table)
    return console.file.getvalue()  # type: ignore[attr-defined, no-any-return]


def render(report: Report, output: str) -> str:
    if output == "json":
        return render_json(report)
    if output == "csv":
        return render_csv(report)
    return render_table(report)
