"""The ledger writer: rows queue off the request path, go out in batches, survive a failing database
for a while, and are all written when the writer closes."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from modelmux.cost.ledger import GroupTotal, Ledger, UsageRecord
from modelmux.cost.writer import LedgerWriter
from tests.cost.conftest import read_ledger_csv

ROW = read_ledger_csv("report")[1]
ALL_TIME = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


class RecordingLedger:
    """A ledger that records batches and fails the first `failures` inserts."""

    def __init__(self, failures: int = 0) -> None:
        self.batches: list[list[UsageRecord]] = []
        self.failures = failures
        self.migrations = 0
        self.closed = False

    def migrate(self) -> None:
        self.migrations += 1

    def insert(self, records: Sequence[UsageRecord]) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise OSError("database is down")
        self.batches.append(list(records))

    def total(self, *args: object) -> Decimal:
        return Decimal(0)

    def grouped(self, *args: object) -> list[GroupTotal]:
        return []

    def daily(self, *args: object) -> list[object]:
        return []

    def claim(self, *args: object) -> bool:
        return True

    def close(self) -> None:
        self.closed = True


def rows(count: int) -> list[UsageRecord]:
    return [replace(ROW, request_id=f"req-{n}") for n in range(count)]


async def test_a_full_batch_is_written_at_once_and_the_rest_on_close() -> None:
    ledger = RecordingLedger()
    writer = LedgerWriter(ledger, interval=60.0, batch_size=500)  # only size or close can flush
    for row in rows(1203):
        writer.submit(row)
    await asyncio.sleep(0)
    await writer.aclose()
    assert [len(batch) for batch in ledger.batches] == [500, 500, 203]
    assert [r.request_id for batch in ledger.batches for r in batch] == [f"req-{n}" for n in range(1203)]
    assert ledger.migrations == 1 and ledger.closed


async def test_a_small_batch_goes_out_after_the_interval() -> None:
    ledger = RecordingLedger()
    writer = LedgerWriter(ledger, interval=0.05, batch_size=500)
    for row in rows(3):
        writer.submit(row)
    await writer.flush()
    assert [len(batch) for batch in ledger.batches] == [3]
    await writer.aclose()


async def test_a_failed_write_is_retried_until_it_succeeds() -> None:
    ledger = RecordingLedger(failures=2)
    writer = LedgerWriter(ledger, interval=0.01, retry_delay=0.01)
    for row in rows(5):
        writer.submit(row)
    await writer.flush()
    assert sum(len(batch) for batch in ledger.batches) == 5
    assert writer.written == 5
    await writer.aclose()


async def test_rows_past_the_queue_bound_are_dropped_and_counted() -> None:
    ledger = RecordingLedger()
    writer = LedgerWriter(ledger, interval=60.0, batch_size=1000, max_queue=10)
    for row in rows(15):
        writer.submit(row)
    assert writer.dropped == 5
    await writer.aclose()
    assert sum(len(batch) for batch in ledger.batches) == 10


async def test_nothing_is_lost_on_close_with_a_real_ledger(ledger: Ledger, storage: str, tmp_path: Path) -> None:
    writer = LedgerWriter(ledger, interval=0.2, batch_size=500)
    for row in rows(1234):
        writer.submit(row)
    await writer.aclose()
    from modelmux.cost.ledger import open_ledger

    reopened = open_ledger(storage, str(tmp_path))
    (total,) = reopened.grouped(None, *ALL_TIME)
    reopened.close()
    assert total.requests == 1234
    assert total.cost == ROW.cost * 1234
