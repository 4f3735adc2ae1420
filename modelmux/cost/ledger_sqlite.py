"""The SQLite ledger: one file, WAL mode, one connection serialized by a lock.

WAL lets report queries read while the writer task appends; `busy_timeout` makes several worker
processes on one file wait for each other instead of failing. Times are stored as
`YYYY-MM-DD HH:MM:SS.ffffff` UTC text, which sorts and compares as time does.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from modelmux.cost.ledger import SqlLedger, UsageRecord
from modelmux.cost.migrations import migrate_sqlite


class SqliteLedger(SqlLedger):
    placeholder = "?"
    day_expr = "substr(ts, 1, 10)"

    def __init__(self, path: str) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SqliteLedger({self.path!r})"

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            if self.path != ":memory:":
                os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout = 30000")
            _enable_wal(conn)
            conn.execute("PRAGMA synchronous = NORMAL")
            self._conn = conn
        return self._conn

    def migrate(self) -> None:
        with self._lock:
            migrate_sqlite(self._connection())

    def insert(self, records: Sequence[UsageRecord]) -> None:
        if not records:
            return
        rows = [self.row(record) for record in records]
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(self.insert_sql(), rows)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def _execute(self, sql: str, params: Sequence[Any]) -> int:
        with self._lock:
            return self._connection().execute(sql, tuple(params)).rowcount

    def _fetch(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        with self._lock:
            return list(self._connection().execute(sql, tuple(params)).fetchall())

    def _ts(self, moment: datetime) -> str:
        aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        return aware.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")

    def _flag(self, value: bool) -> int:
        return 1 if value else 0

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def _enable_wal(conn: sqlite3.Connection, attempts: int = 100) -> None:
    """Switch to WAL. The switch needs a moment of exclusive access and, unlike ordinary statements, can
    fail with "database is locked" without waiting on `busy_timeout` when several workers open a new
    ledger at once; retry briefly."""
    for attempt in range(attempts):
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.05)
