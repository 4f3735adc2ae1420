"""Budget counters: atomic reservations, settlement, thresholds that fire once, seeding from the ledger."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from modelmux.cost.alerts import AlertDispatcher
from modelmux.cost.budgets import BudgetRule
from modelmux.cost.guard import BudgetExceeded, BudgetGuard
from modelmux.cost.ledger import Ledger
from modelmux.cost.writer import LedgerWriter
from modelmux.runtime.stores import MemoryStore
from tests.cost.conftest import read_ledger_csv

NOW = datetime(2025, 3, 20, 12, 0, tzinfo=UTC)


def rule(
    limit: str, *, period: str = "monthly", on_exceed: str = "block", alerts: tuple[float, ...] = ()
) -> BudgetRule:
    return BudgetRule("gateway", None, period, Decimal(limit), alerts, on_exceed)


def guard() -> BudgetGuard:
    return BudgetGuard(MemoryStore(), AlertDispatcher(), clock=lambda: NOW)


async def test_a_reservation_that_would_pass_the_limit_is_refused_and_undone() -> None:
    budget = guard()
    limit = rule("1.00")
    first = await budget.reserve([limit], Decimal("0.60"))
    with pytest.raises(BudgetExceeded):
        await budget.reserve([limit], Decimal("0.60"))
    assert await budget.spent(limit) == (Decimal(0), Decimal("0.6"))
    await budget.settle(first, Decimal("0.25"))
    assert await budget.spent(limit) == (Decimal("0.25"), Decimal("0.25"))
    await budget.reserve([limit], Decimal("0.60"))


async def test_fifty_concurrent_reservations_never_pass_the_limit() -> None:
    budget = guard()
    limit = rule("1.00")
    results = await asyncio.gather(
        *(budget.reserve([limit], Decimal("0.03")) for _ in range(50)), return_exceptions=True
    )
    granted = [r for r in results if not isinstance(r, BaseException)]
    assert len(granted) == 33  # 33 x $0.03 = $0.99; a 34th would pass $1
    assert all(isinstance(r, BudgetExceeded) for r in results if isinstance(r, BaseException))
    _, held = await budget.spent(limit)
    assert held == Decimal("0.99") or abs(held - Decimal("0.99")) < Decimal("1e-9")


async def test_releasing_returns_the_whole_reservation() -> None:
    budget = guard()
    limit = rule("1.00")
    held = await budget.reserve([limit], Decimal("0.75"))
    await budget.settle(held, Decimal(0))
    await budget.settle(held, Decimal("5"))  # settling twice changes nothing
    assert await budget.spent(limit) == (Decimal(0), Decimal(0))


async def test_alert_mode_lets_the_request_through_and_alerts_once() -> None:
    budget = guard()
    limit = rule("1.00", on_exceed="alert")
    await budget.reserve([limit], Decimal("0.90"))
    await budget.reserve([limit], Decimal("0.90"))
    await budget.reserve([limit], Decimal("0.90"))
    exceeded = [a for a in budget.alerts.sent if a.event == "exceeded"]
    assert len(exceeded) == 1 and exceeded[0].rule == limit


async def test_each_threshold_fires_once_per_period() -> None:
    budget = guard()
    limit = rule("10", alerts=(0.5, 0.8))
    for _ in range(12):
        held = await budget.reserve([limit], Decimal("0.50"))
        await budget.settle(held, Decimal("0.75"))  # 12 x $0.75 = $9: crosses 50% at the 7th, 80% at the 11th
    fired = [(a.event, a.threshold, a.spent) for a in budget.alerts.sent]
    assert fired == [("threshold", 0.5, Decimal("5.25")), ("threshold", 0.8, Decimal("8.25"))]


async def test_a_new_period_has_fresh_counters() -> None:
    moments = iter([NOW, NOW, datetime(2025, 3, 21, 0, 0, tzinfo=UTC)])
    budget = BudgetGuard(MemoryStore(), AlertDispatcher(), clock=lambda: next(moments))
    daily = rule("1.00", period="daily")
    held = await budget.reserve([daily], Decimal("0.90"))
    await budget.settle(held, Decimal("0.90"))
    await budget.reserve([daily], Decimal("0.90"))  # March 21st: a new day


async def test_counters_start_from_the_ledgers_sum_for_the_period(ledger: Ledger) -> None:
    ledger.insert(read_ledger_csv("report"))
    writer = LedgerWriter(ledger)
    budget = guard()
    alice = BudgetRule("key", "alice-key", "monthly", Decimal("0.03"), (), "block")

    async def seeder(r: BudgetRule, start: datetime, end: datetime) -> Decimal:
        return await writer.total(start, end, r.column, r.subject)

    with pytest.raises(BudgetExceeded):  # alice spent $0.02795 in March: $0.003 more would pass $0.03
        await budget.reserve([alice], Decimal("0.003"), seeder=seeder)
    held = await budget.reserve([alice], Decimal("0.002"), seeder=seeder)
    assert await budget.spent(alice) == (Decimal("0.02795"), Decimal("0.02995"))
    await budget.settle(held, Decimal("0.001"))
    await writer.aclose()


async def test_seeding_happens_once_per_store(tmp_path: Path) -> None:
    calls = []

    async def seeder(r: BudgetRule, start: datetime, end: datetime) -> Decimal:
        calls.append((r.label, start))
        await asyncio.sleep(0.01)
        return Decimal("0.5")

    store = MemoryStore()
    limit = rule("1.00")
    one = BudgetGuard(store, AlertDispatcher(), clock=lambda: NOW)
    two = BudgetGuard(store, AlertDispatcher(), clock=lambda: NOW)  # another worker on a shared store
    await asyncio.gather(*(g.reserve([limit], Decimal("0.01"), seeder=seeder) for g in (one, two) for _ in range(5)))
    assert calls == [("gateway", datetime(2025, 3, 1, tzinfo=UTC))]
    assert await one.spent(limit) == (Decimal("0.5"), Decimal("0.6"))
