"""The cost machinery of one serving process, held by `Services.costs`, living as long as the process.

It owns the ledger writers (one per storage URL, kept across reloads), the budget guard (one per
state store), the alert dispatcher, the scheduled-report task, and the background tasks that settle
streamed requests' costs. `start()` runs in the app's serving start-up (migrations, the report task);
`aclose()` in its shutdown: settle what is pending, write every queued ledger row, send pending alerts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from modelmux.cost.alerts import AlertDispatcher
from modelmux.cost.guard import BudgetGuard
from modelmux.cost.ledger import open_ledger, redact_url, storage_of
from modelmux.cost.scheduler import ReportScheduler
from modelmux.cost.writer import LedgerWriter
from modelmux.plan.models import Plan
from modelmux.runtime.stores.base import StateStore

log = logging.getLogger("modelmux.cost")


class CostRuntime:
    def __init__(self, *, clock: Callable[[], datetime] | None = None) -> None:
        self.clock = clock or (lambda: datetime.now(UTC))
        self.writers: dict[tuple[str, str], LedgerWriter] = {}
        self.alerts = AlertDispatcher()
        self._guards: dict[int, BudgetGuard] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stop: asyncio.Event | None = None
        self._scheduler: asyncio.Task[None] | None = None

    def writer_for(self, plan: Plan) -> LedgerWriter | None:
        """The writer of the ledger `plan` names (created, not yet connected, on first use)."""
        storage = storage_of(plan)
        if storage is None:
            return None
        writer = self.writers.get(storage.key())
        if writer is None:
            ledger = open_ledger(storage.url, storage.base_dir)
            writer = self.writers[storage.key()] = LedgerWriter(ledger, name=redact_url(storage.url))
        return writer

    def guard(self, store: StateStore) -> BudgetGuard:
        found = self._guards.get(id(store))
        if found is None:
            found = self._guards[id(store)] = BudgetGuard(store, self.alerts, clock=self.clock)
        return found

    def spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run `work` in the background; `aclose()` waits for it."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("cost accounting failed: %r", task.exception())

    async def start(self, current_plan: Callable[[], Plan | None]) -> None:
        """Serving start-up: connect the ledger and apply migrations; start the scheduled reports."""
        plan = current_plan()
        writer = self.writer_for(plan) if plan is not None else None
        if writer is not None:
            await writer.start()
        if self._scheduler is None:
            self._stop = asyncio.Event()
            scheduler = ReportScheduler(current_plan, self.writer_for, clock=self.clock)
            self._scheduler = asyncio.get_running_loop().create_task(scheduler.run(self._stop))

    async def flush(self) -> None:
        """Wait for pending settlements, ledger writes and alerts (tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        for writer in list(self.writers.values()):
            await writer.flush()
        await self.alerts.flush()

    async def aclose(self) -> None:
        if self._stop is not None:
            self._stop.set()
        if self._scheduler is not None:
            try:
                await asyncio.wait_for(self._scheduler, 10.0)
            except TimeoutError:
                self._scheduler.cancel()
            self._scheduler = None
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        for writer in list(self.writers.values()):
            await writer.aclose()
        self.writers.clear()
        await self.alerts.aclose()
