"""Scheduled usage reports (`analytics.usage_reports`): a background task in each serving process.

At each boundary of the schedule (`hourly`, `daily`, `weekly`, `monthly`, UTC) — and once at
start-up, to catch one missed while no server ran — the task reports the period that just ended: the
total, and the totals per model, provider and key. It first claims the period in the ledger's
`report_runs` table (a primary key on report name and period start): only the worker whose insert
succeeded sends, so N workers or replicas on one ledger send one report. A report whose destinations
all failed is not retried (the claim is taken); the failure is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from modelmux.cost.destinations import deliver, destinations_from
from modelmux.cost.ledger import Ledger
from modelmux.cost.periods import period_end, period_start, previous_bounds
from modelmux.cost.pricing import usd
from modelmux.cost.reports import build_report, render_table, report_dict
from modelmux.cost.writer import LedgerWriter
from modelmux.plan.models import Plan

log = logging.getLogger("modelmux.cost")
BREAKDOWNS = ("model", "provider", "key")
MAX_SLEEP = 300.0  # wake at least this often, so a reload that changes the schedule takes effect


def report_settings(plan: Plan | None) -> Mapping[str, Any] | None:
    if plan is None:
        return None
    analytics = plan.sections.get("analytics") or {}
    settings: Mapping[str, Any] | None = analytics.get("usage_reports")
    return settings


def report_message(ledger: Ledger, schedule: str, since: datetime, until: datetime) -> tuple[str, str, dict[str, Any]]:
    """The subject, text and JSON payload of one scheduled report."""
    payload: dict[str, Any] = {"type": "usage_report", "schedule": schedule}
    parts = []
    for by in BREAKDOWNS:
        report = build_report(ledger, by, since, until)
        payload[f"by_{by}"] = report_dict(report)["rows"]
        parts.append(render_table(report, width=100))
    payload.update(since=since.isoformat(), until=until.isoformat(), total=report_dict(report)["total"])
    subject = (
        f"ModelMux {schedule} usage report from {since:%Y-%m-%d %H:%M} UTC: "
        f"${usd(report.total.cost)}, {report.total.requests} requests"
    )
    return subject, "\n".join([subject, "", *parts]), payload


class ReportScheduler:
    def __init__(
        self,
        current_plan: Callable[[], Plan | None],
        writer_for: Callable[[Plan], LedgerWriter | None],
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.current_plan = current_plan
        self.writer_for = writer_for
        self.clock = clock or (lambda: datetime.now(UTC))

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.run_once(self.clock())
            except Exception:
                log.exception("the scheduled usage report failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._sleep())

    def _sleep(self) -> float:
        settings = report_settings(self.current_plan())
        if not settings:
            return MAX_SLEEP
        now = self.clock()
        boundary = period_end(settings["schedule"], period_start(settings["schedule"], now))
        return min(max((boundary - now).total_seconds() + 1.0, 1.0), MAX_SLEEP)

    async def run_once(self, now: datetime) -> bool:
        """Send the report of the period that ended last, unless another worker has; True when sent."""
        plan = self.current_plan()
        settings = report_settings(plan)
        if plan is None or not settings:
            return False
        destinations = destinations_from(settings)
        writer = self.writer_for(plan)
        if not destinations or writer is None:
            return False
        schedule = str(settings.get("schedule") or "daily")
        since, until = previous_bounds(schedule, now)
        ledger = writer.ledger
        if not await writer.query(lambda: ledger.claim(f"usage_report:{schedule}", since)):
            return False
        subject, text, payload = await writer.query(lambda: report_message(ledger, schedule, since, until))
        delivered = await deliver(destinations, subject, text, payload)
        if delivered < len(destinations):
            log.error("the %s usage report reached %d of %d destinations", schedule, delivered, len(destinations))
        return True
