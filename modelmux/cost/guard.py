"""Race-free budget enforcement through the state store's atomic `add`.

Each budget rule has, per period, two counters in the store (keyed by the budget, the period and its
start; they expire a day after the period ends):
- `held`: spend plus what requests in flight have reserved. A request reserves its estimate with one
  atomic `add`; when the new value exceeds the limit the request is refused and its reservation
  undone, so spent + reserved + estimate never passes the limit. When it completes, the actual cost
  settles (`add(actual - estimate)`). The limit is overshot only by what a request's actual cost
  exceeds its estimate.
- `spent`: settled cost only; threshold alerts read it. Settles only ever add, so the counter rises
  monotonically and exactly one settle crosses each threshold: that one fires the alert (a store flag
  per threshold and period makes it once across replicas as well).
The first time a process touches a period's counters, it seeds them from the ledger's sum for that
period (once per store, guarded by a flag), so a restart does not forget spend.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from modelmux.cost.alerts import AlertDispatcher, BudgetAlert
from modelmux.cost.budgets import BudgetRule
from modelmux.cost.destinations import Destination
from modelmux.cost.periods import period_bounds
from modelmux.runtime.stores.base import StateStore

log = logging.getLogger("modelmux.cost")
EPSILON = 1e-9
GRACE = 86_400.0
SEED_WAIT_STEPS = 250  # 5 seconds at most, waiting for another process to seed a counter
Seeder = Callable[[BudgetRule, datetime, datetime], Awaitable[Decimal]]


@dataclass(frozen=True, slots=True)
class Counter:
    rule: BudgetRule
    start: datetime
    end: datetime

    def key(self, part: str) -> str:
        rule = self.rule
        return f"modelmux:budget:{rule.label}:{rule.period}:{self.start:%Y%m%d}:{part}"

    def ttl(self, now: datetime) -> float:
        return max((self.end - now).total_seconds(), 0.0) + GRACE


@dataclass
class Reservation:
    counters: tuple[Counter, ...]
    amount: Decimal
    settled: bool = False


@dataclass
class BudgetExceeded(Exception):
    """A request would pass one or more budgets whose `on_exceed` is not `alert`."""

    counters: list[Counter] = field(default_factory=list)


class BudgetGuard:
    """One per process (it remembers which counters it seeded); shared by every plan."""

    def __init__(
        self, store: StateStore, alerts: AlertDispatcher, *, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.store = store
        self.alerts = alerts
        self.clock = clock or (lambda: datetime.now(UTC))
        self._seeded: dict[str, datetime] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def reserve(
        self,
        rules: Sequence[BudgetRule],
        amount: Decimal,
        *,
        seeder: Seeder | None = None,
        destinations: list[Destination] | None = None,
    ) -> Reservation:
        """Reserve `amount` under every rule, or raise `BudgetExceeded` having reserved nothing."""
        now = self.clock()
        counters = tuple(Counter(rule, *period_bounds(rule.period, now)) for rule in rules)
        for counter in counters:
            await self._seed(counter, now, seeder)
        over: list[Counter] = []
        for counter in counters:
            value = await self.store.add(counter.key("held"), float(amount), counter.ttl(now))
            if value > float(counter.rule.limit) + EPSILON:
                over.append(counter)
        for counter in over:
            await self._exceeded(counter, now, destinations or [])
        blocking = [c for c in over if c.rule.on_exceed != "alert"]
        if blocking:
            for counter in counters:
                await self.store.add(counter.key("held"), -float(amount), counter.ttl(now))
            raise BudgetExceeded(blocking)
        return Reservation(counters, amount)

    async def settle(
        self, reservation: Reservation, actual: Decimal, destinations: list[Destination] | None = None
    ) -> None:
        """Replace the reservation by the actual cost (0 releases it); fire the thresholds it crosses."""
        if reservation.settled:
            return
        reservation.settled = True
        now = self.clock()
        for counter in reservation.counters:
            ttl = counter.ttl(now)
            if actual != reservation.amount:
                await self.store.add(counter.key("held"), float(actual - reservation.amount), ttl)
            if actual > 0:
                spent = await self.store.add(counter.key("spent"), float(actual), ttl)
                await self._thresholds(counter, spent - float(actual), spent, now, destinations or [])

    async def _thresholds(
        self, counter: Counter, before: float, after: float, now: datetime, destinations: list[Destination]
    ) -> None:
        limit = float(counter.rule.limit)
        for threshold in counter.rule.alerts_at:
            mark = threshold * limit - EPSILON
            if (
                before < mark <= after
                and await self.store.add(counter.key(f"alert:{threshold}"), 1, counter.ttl(now)) == 1
            ):
                alert = BudgetAlert("threshold", counter.rule, counter.start, counter.end, dollars(after), threshold)
                self.alerts.fire(alert, destinations)

    async def _exceeded(self, counter: Counter, now: datetime, destinations: list[Destination]) -> None:
        if await self.store.add(counter.key("alert:exceeded"), 1, counter.ttl(now)) != 1:
            return
        spent = dollars(await self.store.get_number(counter.key("spent")))
        self.alerts.fire(BudgetAlert("exceeded", counter.rule, counter.start, counter.end, spent), destinations)

    async def spent(self, rule: BudgetRule) -> tuple[Decimal, Decimal]:
        """(settled spend, spend plus reservations) of a rule's current period."""
        counter = Counter(rule, *period_bounds(rule.period, self.clock()))
        spent = await self.store.get_number(counter.key("spent"))
        held = await self.store.get_number(counter.key("held"))
        return dollars(spent), dollars(held)

    async def _seed(self, counter: Counter, now: datetime, seeder: Seeder | None) -> None:
        held = counter.key("held")
        if seeder is None or held in self._seeded:
            return
        lock = self._locks.setdefault(held, asyncio.Lock())
        async with lock:
            if held in self._seeded:
                return
            try:
                await self._seed_once(counter, now, seeder)
            except Exception as exc:
                log.error("could not seed budget %s from the ledger: %s", counter.rule.label, type(exc).__name__)
            self._seeded[held] = counter.end
            self._locks.pop(held, None)
        if len(self._seeded) > 10_000:
            self._seeded = {key: end for key, end in self._seeded.items() if end > now}

    async def _seed_once(self, counter: Counter, now: datetime, seeder: Seeder) -> None:
        """The process that claims the period's seeding seeds it; the others wait until it is done."""
        ttl = counter.ttl(now)
        done = counter.key("seeded")
        if await self.store.add(counter.key("seeding"), 1, ttl) == 1:
            try:
                total = await seeder(counter.rule, counter.start, counter.end)
                if total > 0:
                    await self.store.add(counter.key("held"), float(total), ttl)
                    await self.store.add(counter.key("spent"), float(total), ttl)
            finally:
                await self.store.add(done, 1, ttl)
            return
        for _ in range(SEED_WAIT_STEPS):
            if await self.store.get_number(done) >= 1:
                return
            await asyncio.sleep(0.02)


def dollars(value: float) -> Decimal:
    """A counter's float value as dollars, to the nano-dollar (floats add up with tiny errors)."""
    return Decimal(str(round(value, 9)))
