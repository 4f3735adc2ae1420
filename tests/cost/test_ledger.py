"""The ledger on SQLite and PostgreSQL: the same rows in, the same sums out; migrations once, under a lock."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import psycopg

from modelmux.cost.ledger import Ledger, open_ledger, redact_url, sqlite_path
from modelmux.cost.migrations import MIGRATIONS
from tests.cost.conftest import read_ledger_csv

MARCH = (datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 4, 1, tzinfo=UTC))


def versions(storage: str, folder: Path) -> list[int]:
    if storage.startswith("sqlite"):
        with sqlite3.connect(sqlite_path(storage, str(folder))) as conn:
            return [row[0] for row in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
    with psycopg.connect(storage) as conn:
        return [row[0] for row in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]


def test_rows_go_in_and_sums_come_out_exactly(ledger: Ledger) -> None:
    ledger.insert(read_ledger_csv("report"))
    assert ledger.total(*MARCH) == Decimal("0.051181")
    assert ledger.total(*MARCH, column="key_name", value="alice-key") == Decimal("0.02795")
    assert ledger.total(*MARCH, column="org", value="globex") == Decimal("0.00175")
    assert ledger.total(datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)) == Decimal("0.404681")


def test_range_bounds_are_half_open(ledger: Ledger) -> None:
    ledger.insert(read_ledger_csv("report"))
    last_microsecond = datetime(2025, 3, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert ledger.total(last_microsecond, MARCH[1]) == Decimal("0.018")
    assert ledger.total(MARCH[0], last_microsecond) == Decimal("0.033181")


def test_grouped_totals_biggest_first_with_tokens(ledger: Ledger) -> None:
    ledger.insert(read_ledger_csv("report"))
    groups = ledger.grouped("key", *MARCH)
    assert [(g.group, g.requests, g.cost) for g in groups] == [
        ("alice-key", 3, Decimal("0.02795")),
        ("bob-key", 2, Decimal("0.02146")),
        ("carol-key", 2, Decimal("0.00175")),
        (None, 1, Decimal("0.000021")),
    ]
    alice = groups[0]
    assert (alice.prompt_tokens, alice.completion_tokens, alice.cached_tokens) == (12000, 3500, 200)
    (total,) = ledger.grouped(None, *MARCH)
    assert (total.requests, total.prompt_tokens, total.completion_tokens, total.cached_tokens) == (8, 23600, 4560, 1200)


def test_daily_totals_by_utc_day(ledger: Ledger) -> None:
    ledger.insert(read_ledger_csv("report"))
    assert ledger.daily(*MARCH) == [
        (date(2025, 3, 1), Decimal("0.00725")),
        (date(2025, 3, 2), Decimal("0.0027")),
        (date(2025, 3, 5), Decimal("0.0213")),
        (date(2025, 3, 10), Decimal("0.00175")),
        (date(2025, 3, 12), Decimal("0.000021")),
        (date(2025, 3, 15), Decimal("0.00016")),
        (date(2025, 3, 20), Decimal("0")),
        (date(2025, 3, 31), Decimal("0.018")),
    ]


def test_a_claim_is_won_once(ledger: Ledger) -> None:
    start = datetime(2025, 3, 1, tzinfo=UTC)
    assert ledger.claim("usage_report:daily", start) is True
    assert ledger.claim("usage_report:daily", start) is False
    assert ledger.claim("usage_report:weekly", start) is True


def test_migrations_are_idempotent(storage: str, tmp_path: Path) -> None:
    for _ in range(2):
        ledger = open_ledger(storage, str(tmp_path))
        ledger.migrate()
        ledger.migrate()
        ledger.close()
    assert versions(storage, tmp_path) == [m.version for m in MIGRATIONS]


def test_workers_starting_together_apply_each_migration_once(storage: str, tmp_path: Path) -> None:
    ledgers = [open_ledger(storage, str(tmp_path)) for _ in range(8)]
    barrier = threading.Barrier(len(ledgers))
    failures: list[BaseException] = []

    def start(ledger: Ledger) -> None:
        barrier.wait()
        try:
            ledger.migrate()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=start, args=(ledger,)) for ledger in ledgers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for ledger in ledgers:
        ledger.close()
    assert not failures
    assert versions(storage, tmp_path) == [m.version for m in MIGRATIONS]


def test_sqlite_paths_are_relative_to_the_config_folder(tmp_path: Path) -> None:
    assert sqlite_path("sqlite:///usage.db", "/etc/modelmux") == "/etc/modelmux/usage.db"
    assert sqlite_path("sqlite:///data/usage.db", "/etc/modelmux") == "/etc/modelmux/data/usage.db"
    assert sqlite_path("sqlite:////var/lib/usage.db", "/etc/modelmux") == "/var/lib/usage.db"
    ledger = open_ledger("sqlite:///nested/usage.db", str(tmp_path))
    ledger.migrate()
    ledger.close()
    assert (tmp_path / "nested" / "usage.db").is_file()
    with sqlite3.connect(tmp_path / "nested" / "usage.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_postgres_password_never_shows() -> None:
    url = "postgresql://modelmux:s3cret-pass@db.internal:5432/usage"
    assert redact_url(url) == "postgresql://modelmux:***@db.internal:5432/usage"
    assert "s3cret" not in repr(open_ledger(url, "/"))
