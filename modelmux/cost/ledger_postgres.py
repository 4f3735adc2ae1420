"""The PostgreSQL ledger (psycopg 3): the same schema and queries as SQLite, for a fleet of gateways.

One connection per process, in autocommit mode with explicit transactions, serialized by a lock; a
broken connection is dropped and reopened on the next call (the writer retries its batch). The URL
may hold a password: it never reaches a log line or an error message (see `redact_url`).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg

from modelmux.cost.ledger import SqlLedger, UsageRecord, redact_url
from modelmux.cost.migrations import migrate_postgres


class PostgresLedger(SqlLedger):
    placeholder = "%s"
    day_expr = "to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD')"

    def __init__(self, url: str, *, connect_timeout: int = 10) -> None:
        self._url = url
        self._connect_timeout = connect_timeout
        self._conn: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"PostgresLedger({redact_url(self._url)!r})"

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self._url, autocommit=True, connect_timeout=self._connect_timeout)
        return self._conn

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def migrate(self) -> None:
        with self._lock:
            try:
                migrate_postgres(self._connection())
            except psycopg.OperationalError:
                self._drop()
                raise

    def insert(self, records: Sequence[UsageRecord]) -> None:
        if not records:
            return
        rows = [self.row(record) for record in records]
        with self._lock:
            try:
                conn = self._connection()
                with conn.transaction(), conn.cursor() as cursor:
                    cursor.executemany(self.insert_sql(), rows)
            except psycopg.OperationalError:
                self._drop()
                raise

    def _execute(self, sql: str, params: Sequence[Any]) -> int:
        with self._lock:
            try:
                return self._connection().execute(sql, tuple(params)).rowcount
            except psycopg.OperationalError:
                self._drop()
                raise

    def _fetch(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return list(self._connection().execute(sql, tuple(params)).fetchall())
            except psycopg.OperationalError:
                self._drop()
                raise

    def _ts(self, moment: datetime) -> datetime:
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)

    def close(self) -> None:
        with self._lock:
            self._drop()
