"""The usage ledger: one row per request, in SQLite (embedded default) or PostgreSQL (fleets).

`UsageRecord` is a row; `Ledger` the blocking interface both backends implement (the server calls it
in a thread, through `LedgerWriter`; the CLI calls it directly). `SqlLedger` holds the SQL both
backends share; `ledger_sqlite` and `ledger_postgres` supply connections, placeholders and types, and
`migrations` the schema. `open_ledger` picks the backend from `analytics.cost_tracking.storage`.

Costs are stored as whole pico-dollars (see `modelmux.cost.pricing`); times are UTC.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from modelmux.cost.pricing import ZERO, from_pico, to_pico
from modelmux.plan.models import Plan

DIMENSIONS: Mapping[str, str] = {
    "key": "key_name",
    "user": "user_name",
    "org": "org",
    "team": "team",
    "model": "model",
    "upstream_model": "upstream_model",
    "provider": "provider",
    "route": "route",
    "endpoint": "endpoint",
}
COLUMNS = (
    "ts",
    "request_id",
    "key_name",
    "user_name",
    "org",
    "team",
    "endpoint",
    "route",
    "provider",
    "model",
    "upstream_model",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cost_pico",
    "status",
    "latency_ms",
    "stream",
)


@dataclass(frozen=True, slots=True)
class UsageRecord:
    ts: datetime  # when the request arrived, UTC
    request_id: str
    key_name: str | None
    user: str | None
    org: str | None
    team: str | None
    endpoint: str  # "chat" or "embeddings"
    route: str
    provider: str | None
    model: str
    upstream_model: str | None
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    cost: Decimal
    status: int  # what the client got; 499 for a stream the client cancelled, 502 for one that broke
    latency_ms: float
    stream: bool


@dataclass(frozen=True, slots=True)
class GroupTotal:
    group: str | None
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    cost: Decimal


class Ledger(Protocol):
    """Blocking calls; safe to call from several threads (each backend serializes on one connection)."""

    def migrate(self) -> None:
        """Connect and apply pending schema migrations (idempotent, safe with several workers)."""
        ...

    def insert(self, records: Sequence[UsageRecord]) -> None: ...

    def total(self, since: datetime, until: datetime, column: str | None = None, value: str | None = None) -> Decimal:
        """The cost of the rows in `[since, until)`, optionally only those whose `column` is `value`."""
        ...

    def grouped(self, by: str | None, since: datetime, until: datetime) -> list[GroupTotal]:
        """Totals per value of a dimension (`DIMENSIONS`), biggest cost first; one row when `by` is None."""
        ...

    def daily(self, since: datetime, until: datetime) -> list[tuple[date, Decimal]]:
        """Cost per UTC day with rows in `[since, until)`, in date order."""
        ...

    def claim(self, name: str, period_start: datetime) -> bool:
        """Take the lock row `(name, period_start)`: True for the one caller that inserted it."""
        ...

    def close(self) -> None: ...


class SqlLedger(ABC):
    """The queries SQLite and PostgreSQL share; subclasses run them."""

    placeholder = "?"
    day_expr = "substr(ts, 1, 10)"

    @abstractmethod
    def _execute(self, sql: str, params: Sequence[Any]) -> int:
        """Run a statement; the number of rows it changed."""

    @abstractmethod
    def _fetch(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Run a query; its rows."""

    @abstractmethod
    def _ts(self, moment: datetime) -> Any:
        """A timestamp as the database stores it."""

    def _flag(self, value: bool) -> Any:
        return value

    def _marks(self, count: int) -> str:
        return ", ".join([self.placeholder] * count)

    def insert_sql(self) -> str:
        return f"INSERT INTO usage ({', '.join(COLUMNS)}) VALUES ({self._marks(len(COLUMNS))})"

    def row(self, record: UsageRecord) -> tuple[Any, ...]:
        return (
            self._ts(record.ts),
            record.request_id,
            record.key_name,
            record.user,
            record.org,
            record.team,
            record.endpoint,
            record.route,
            record.provider,
            record.model,
            record.upstream_model,
            record.prompt_tokens,
            record.completion_tokens,
            record.cached_tokens,
            to_pico(record.cost),
            record.status,
            record.latency_ms,
            self._flag(record.stream),
        )

    def total(self, since: datetime, until: datetime, column: str | None = None, value: str | None = None) -> Decimal:
        mark = self.placeholder
        sql = f"SELECT COALESCE(SUM(cost_pico), 0) FROM usage WHERE ts >= {mark} AND ts < {mark}"
        params: list[Any] = [self._ts(since), self._ts(until)]
        if column is not None:
            if column not in DIMENSIONS.values():
                raise ValueError(f"unknown ledger column {column!r}")
            sql += f" AND {column} = {mark}"
            params.append(value)
        rows = self._fetch(sql, params)
        return from_pico(rows[0][0]) if rows else ZERO

    def grouped(self, by: str | None, since: datetime, until: datetime) -> list[GroupTotal]:
        if by is not None and by not in DIMENSIONS:
            raise ValueError(f"cannot group by {by!r}; one of: {', '.join(DIMENSIONS)}")
        group = DIMENSIONS[by] if by else "NULL"
        mark = self.placeholder
        sql = (
            f"SELECT {group}, COUNT(*), COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0), "
            f"COALESCE(SUM(cached_tokens), 0), COALESCE(SUM(cost_pico), 0) FROM usage "
            f"WHERE ts >= {mark} AND ts < {mark}" + (f" GROUP BY {group}" if by else "")
        )
        found = [
            GroupTotal(row[0], int(row[1]), int(row[2]), int(row[3]), int(row[4]), from_pico(row[5]))
            for row in self._fetch(sql, [self._ts(since), self._ts(until)])
            if by or int(row[1]) > 0
        ]
        return sorted(found, key=lambda g: (-g.cost, g.group is None, g.group or ""))

    def daily(self, since: datetime, until: datetime) -> list[tuple[date, Decimal]]:
        mark = self.placeholder
        day = self.day_expr
        sql = (
            f"SELECT {day}, COALESCE(SUM(cost_pico), 0) FROM usage WHERE ts >= {mark} AND ts < {mark} "
            f"GROUP BY {day} ORDER BY {day}"
        )
        return [
            (date.fromisoformat(row[0]), from_pico(row[1]))
            for row in self._fetch(sql, [self._ts(since), self._ts(until)])
        ]

    def claim(self, name: str, period_start: datetime) -> bool:
        mark = self.placeholder
        sql = (
            f"INSERT INTO report_runs (name, period_start, claimed_at) VALUES ({mark}, {mark}, {mark}) "
            "ON CONFLICT DO NOTHING"
        )
        return self._execute(sql, [name, self._ts(period_start), self._ts(datetime.now(period_start.tzinfo))]) == 1


def sqlite_path(storage: str, base_dir: str) -> str:
    """`sqlite:///usage.db` is relative to `base_dir` (the config's folder); `sqlite:////var/x.db` is absolute."""
    rest = storage.split("://", 1)[1]
    path = rest[1:] if rest.startswith("/") else rest
    if path == ":memory:" or os.path.isabs(path):
        return path
    return os.path.join(base_dir, path)


def redact_url(url: str) -> str:
    """A storage URL fit for a log line: any password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def open_ledger(storage: str, base_dir: str) -> Ledger:
    """The ledger a storage URL names (not yet connected: call `migrate()` first)."""
    if storage.startswith("sqlite:"):
        from modelmux.cost.ledger_sqlite import SqliteLedger

        return SqliteLedger(sqlite_path(storage, base_dir))
    if storage.startswith(("postgresql://", "postgres://")):
        from modelmux.cost.ledger_postgres import PostgresLedger

        return PostgresLedger(storage)
    raise ValueError("analytics.cost_tracking.storage is sqlite:///PATH or postgresql://...")


@dataclass(frozen=True, slots=True)
class Storage:
    url: str
    base_dir: str

    def key(self) -> tuple[str, str]:
        return (self.url, self.base_dir)


def storage_of(plan: Plan) -> Storage | None:
    """The ledger a plan names, or None when cost tracking is off."""
    analytics = plan.sections.get("analytics")
    tracking = analytics.get("cost_tracking") if analytics else None
    if not tracking or not tracking.get("enabled", True):
        return None
    base = os.path.dirname(os.path.abspath(plan.files[0])) if plan.files else os.getcwd()
    return Storage(str(tracking.get("storage") or "sqlite:///usage.db"), base)
