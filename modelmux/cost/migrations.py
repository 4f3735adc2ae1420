"""The ledger's schema, as ordered migration steps applied at start-up.

`schema_migrations` records each applied version. Applying is idempotent and safe when several workers
start at once: the whole check-and-apply runs in one transaction that first takes a lock — a
transaction-scoped advisory lock on PostgreSQL (`pg_advisory_xact_lock`), `BEGIN IMMEDIATE` (the
database's write lock) on SQLite — so one worker applies and the others then find nothing to do.
A new step is appended with the next version; a released step is never edited.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

ADVISORY_LOCK = 0x6D6D5F6C6564  # "mm_led": the key every ModelMux worker locks on while migrating


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sqlite: tuple[str, ...]
    postgres: tuple[str, ...]


_INDEXES = tuple(
    f"CREATE INDEX IF NOT EXISTS usage_{column}_ts ON usage ({column}, ts)"
    for column in ("key_name", "user_name", "org", "team")
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "usage ledger",
        sqlite=(
            """CREATE TABLE usage (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                ts TEXT NOT NULL,
                request_id TEXT NOT NULL,
                key_name TEXT, user_name TEXT, org TEXT, team TEXT,
                endpoint TEXT NOT NULL,
                route TEXT NOT NULL DEFAULT '',
                provider TEXT,
                model TEXT NOT NULL,
                upstream_model TEXT,
                prompt_tokens INTEGER NOT NULL DEFAULT 0,
                completion_tokens INTEGER NOT NULL DEFAULT 0,
                cached_tokens INTEGER NOT NULL DEFAULT 0,
                cost_pico INTEGER NOT NULL DEFAULT 0,
                status INTEGER NOT NULL,
                latency_ms REAL NOT NULL DEFAULT 0,
                stream INTEGER NOT NULL DEFAULT 0
            )""",
            "CREATE INDEX IF NOT EXISTS usage_ts ON usage (ts)",
            *_INDEXES,
        ),
        postgres=(
            """CREATE TABLE usage (
                id BIGSERIAL PRIMARY KEY,
                ts TIMESTAMPTZ NOT NULL,
                request_id TEXT NOT NULL,
                key_name TEXT, user_name TEXT, org TEXT, team TEXT,
                endpoint TEXT NOT NULL,
                route TEXT NOT NULL DEFAULT '',
                provider TEXT,
                model TEXT NOT NULL,
                upstream_model TEXT,
                prompt_tokens BIGINT NOT NULL DEFAULT 0,
                completion_tokens BIGINT NOT NULL DEFAULT 0,
                cached_tokens BIGINT NOT NULL DEFAULT 0,
                cost_pico BIGINT NOT NULL DEFAULT 0,
                status INTEGER NOT NULL,
                latency_ms DOUBLE PRECISION NOT NULL DEFAULT 0,
                stream BOOLEAN NOT NULL DEFAULT FALSE
            )""",
            "CREATE INDEX IF NOT EXISTS usage_ts ON usage (ts)",
            *_INDEXES,
        ),
    ),
    Migration(
        2,
        "report runs (one sender per scheduled report)",
        sqlite=(
            """CREATE TABLE report_runs (
                name TEXT NOT NULL, period_start TEXT NOT NULL, claimed_at TEXT NOT NULL,
                PRIMARY KEY (name, period_start)
            )""",
        ),
        postgres=(
            """CREATE TABLE report_runs (
                name TEXT NOT NULL, period_start TIMESTAMPTZ NOT NULL, claimed_at TIMESTAMPTZ NOT NULL,
                PRIMARY KEY (name, period_start)
            )""",
        ),
    ),
)

_SQLITE_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations "
    "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
)
_POSTGRES_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations "
    "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
)


def migrate_sqlite(conn: sqlite3.Connection) -> list[int]:
    """Apply pending steps under the database write lock; the versions applied now."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(_SQLITE_TABLE)
        done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        applied = []
        for step in MIGRATIONS:
            if step.version in done:
                continue
            for statement in step.sqlite:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (step.version, step.name, datetime.now(UTC).isoformat()),
            )
            applied.append(step.version)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return applied


def migrate_postgres(conn: Any) -> list[int]:
    """Apply pending steps in one transaction holding the advisory lock (`conn` is a psycopg connection)."""
    applied = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_LOCK,))
        conn.execute(_POSTGRES_TABLE)
        done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations").fetchall()}
        for step in MIGRATIONS:
            if step.version in done:
                continue
            for statement in step.postgres:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (%s, %s, now())",
                (step.version, step.name),
            )
            applied.append(step.version)
    return applied
