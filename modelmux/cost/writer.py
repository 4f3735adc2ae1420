"""Batched ledger writes, off the request path.

A request's finalizer calls `submit(record)`, which only puts the row on an asyncio queue. One writer
task drains the queue: it writes a batch in a worker thread as soon as it holds `batch_size` rows or
`interval` seconds after the batch's first row arrived. A failed write is retried, with backoff, until
it succeeds or the writer is closed. `aclose()` (the serving lifecycle's shutdown) waits until every
queued row is written, so a graceful stop loses nothing. The queue is bounded: when the database is
unreachable for long, rows past `max_queue` are dropped and counted in `dropped`, never the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import TypeVar

from modelmux.cost.ledger import Ledger, UsageRecord

log = logging.getLogger("modelmux.cost")
T = TypeVar("T")


class LedgerWriter:
    def __init__(
        self,
        ledger: Ledger,
        *,
        name: str = "ledger",
        interval: float = 0.2,
        batch_size: int = 500,
        max_queue: int = 100_000,
        retry_delay: float = 0.2,
    ) -> None:
        self.ledger = ledger
        self.name = name
        self.interval = interval
        self.batch_size = batch_size
        self.max_queue = max_queue
        self.retry_delay = retry_delay
        self.dropped = 0
        self.written = 0
        self._queue: asyncio.Queue[UsageRecord | None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready: asyncio.Task[None] | None = None
        self._closed = False
        self._closing = False

    async def start(self, timeout: float = 15.0) -> bool:
        """Connect and apply migrations now (start-up); False when not done within `timeout` (the writer
        keeps retrying in the background and rows wait in the queue meanwhile)."""
        try:
            await asyncio.wait_for(asyncio.shield(self._ensure_ready()), timeout)
        except TimeoutError:
            log.error("usage ledger %s is not ready after %.0fs; serving anyway", self.name, timeout)
            return False
        return True

    def _ensure_ready(self) -> asyncio.Task[None]:
        if self._ready is None:
            self._ready = asyncio.get_running_loop().create_task(self._migrate())
        return self._ready

    async def _migrate(self) -> None:
        delay = self.retry_delay
        while True:
            try:
                await asyncio.to_thread(self.ledger.migrate)
                return
            except Exception as exc:
                log.error(
                    "usage ledger %s is unavailable (%s); retrying in %.1fs", self.name, type(exc).__name__, delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    def submit(self, record: UsageRecord) -> None:
        """Queue one row (never blocks; called from finalizers on the event loop)."""
        if self._closed:
            self.dropped += 1
            log.error("usage ledger %s is closed; dropped the row of request %s", self.name, record.request_id)
            return
        if self._queue is None:
            self._queue = asyncio.Queue(self.max_queue)
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"ledger-writer-{self.name}")
        try:
            self._queue.put_nowait(record)
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.error("usage ledger %s is behind; %d rows dropped so far", self.name, self.dropped)

    async def _run(self) -> None:
        queue = self._queue
        assert queue is not None
        while True:
            first = await queue.get()
            if first is None:  # the wake-up `aclose` sends
                queue.task_done()
                continue
            batch = await self._collect(queue, first)
            await self._write(batch)
            for _ in batch:
                queue.task_done()

    async def _collect(self, queue: asyncio.Queue[UsageRecord | None], first: UsageRecord) -> list[UsageRecord]:
        """`first` and what follows it within `interval` (at once when closing), up to `batch_size` rows."""
        loop = asyncio.get_running_loop()
        batch = [first]
        flush_at = loop.time() + self.interval
        while len(batch) < self.batch_size:
            try:
                if self._closing:
                    item = queue.get_nowait()
                else:
                    item = await asyncio.wait_for(queue.get(), max(flush_at - loop.time(), 0.0))
            except (TimeoutError, asyncio.QueueEmpty):
                break
            if item is None:
                queue.task_done()
                continue
            batch.append(item)
        return batch

    async def _write(self, batch: list[UsageRecord]) -> None:
        await self._ensure_ready()
        delay = self.retry_delay
        while True:
            try:
                await asyncio.to_thread(self.ledger.insert, batch)
                self.written += len(batch)
                return
            except Exception as exc:
                if self._closed:
                    log.error("usage ledger %s: %d rows lost at shutdown (%s)", self.name, len(batch), exc)
                    return
                log.error("usage ledger %s: write failed (%s); retrying in %.1fs", self.name, type(exc).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def flush(self) -> None:
        """Wait until every row queued so far is written."""
        if self._queue is not None:
            await self._queue.join()

    async def query(self, call: Callable[[], T]) -> T:
        """Run a blocking ledger query in a thread, once the ledger is migrated."""
        await self._ensure_ready()
        return await asyncio.to_thread(call)

    async def total(self, since: datetime, until: datetime, column: str | None, value: str | None) -> Decimal:
        return await self.query(lambda: self.ledger.total(since, until, column, value))

    async def aclose(self, timeout: float = 30.0) -> None:
        """Write what is queued (for at most `timeout` seconds), then close the connection."""
        self._closing = True
        if self._queue is not None:
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(None)
            try:
                await asyncio.wait_for(self._queue.join(), timeout)
            except TimeoutError:
                log.error("usage ledger %s: %d rows not written at shutdown", self.name, self._queue.qsize())
        self._closed = True
        for task in (self._task, self._ready):
            if task is not None and not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        await asyncio.to_thread(self.ledger.close)
