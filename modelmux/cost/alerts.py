"""Budget alerts: what one says, and sending it without holding up a request.

An alert fires once per threshold per budget period (`BudgetGuard` decides when), and once per period
when a request first finds a budget exhausted (`event: exceeded`). It is logged at WARNING and sent to
`analytics.cost_tracking.alerts` destinations, or, when that is not set, to those of
`analytics.usage_reports`. Sending runs in a background task; `AlertDispatcher.aclose()` waits for
the ones in flight at shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from modelmux.cost.budgets import BudgetRule
from modelmux.cost.destinations import Destination, deliver, destinations_from
from modelmux.cost.pricing import usd
from modelmux.plan.models import Plan

log = logging.getLogger("modelmux.cost")


@dataclass(frozen=True, slots=True)
class BudgetAlert:
    event: str  # "threshold" (spend crossed alerts_at) or "exceeded" (a request found the budget spent)
    rule: BudgetRule
    period_start: datetime
    period_end: datetime
    spent: Decimal
    threshold: float | None = None

    def subject(self) -> str:
        rule = self.rule
        if self.event == "threshold" and self.threshold is not None:
            return f"ModelMux budget {rule.label} ({rule.period}) reached {self.threshold:.0%}"
        return f"ModelMux budget {rule.label} ({rule.period}) exceeded: on_exceed={rule.on_exceed}"

    def payload(self) -> dict[str, Any]:
        rule = self.rule
        return {
            "type": "budget_alert",
            "event": self.event,
            "budget": rule.label,
            "scope": rule.scope,
            "subject": rule.subject,
            "period": rule.period,
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "limit_usd": float(usd(rule.limit)),
            "spent_usd": float(usd(self.spent)),
            "threshold": self.threshold,
            "on_exceed": rule.on_exceed,
        }

    def text(self) -> str:
        rule = self.rule
        return (
            f"{self.subject()}\n\n"
            f"budget: {rule.label}\nperiod: {rule.period}, {self.period_start:%Y-%m-%d %H:%M} to "
            f"{self.period_end:%Y-%m-%d %H:%M} UTC\nlimit: ${usd(rule.limit)}\nspent: ${usd(self.spent)}\n"
            f"on_exceed: {rule.on_exceed}\n"
        )


def alert_settings(plan: Plan) -> Mapping[str, Any] | None:
    """The destinations budget alerts go to: `cost_tracking.alerts`, else `usage_reports`."""
    analytics = plan.sections.get("analytics") or {}
    tracking = analytics.get("cost_tracking") or {}
    chosen: Mapping[str, Any] | None = tracking.get("alerts") or analytics.get("usage_reports")
    return chosen


class AlertDispatcher:
    """Sends alerts in background tasks. One per process; the destinations come with each plan."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self.sent: list[BudgetAlert] = []

    def fire(self, alert: BudgetAlert, destinations: list[Destination]) -> None:
        log.warning("%s (spent $%s of $%s)", alert.subject(), usd(alert.spent), usd(alert.rule.limit))
        self.sent.append(alert)
        del self.sent[:-100]
        if not destinations:
            return
        task = asyncio.get_running_loop().create_task(self._send(alert, destinations))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, alert: BudgetAlert, destinations: list[Destination]) -> None:
        await deliver(destinations, alert.subject(), alert.text(), alert.payload())

    async def flush(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self, timeout: float = 10.0) -> None:
        if not self._tasks:
            return
        try:
            await asyncio.wait_for(self.flush(), timeout)
        except TimeoutError:
            for task in list(self._tasks):
                task.cancel()
            log.error("%d budget alerts were still being sent at shutdown", len(self._tasks))


def plan_destinations(plan: Plan) -> list[Destination]:
    return destinations_from(alert_settings(plan))
