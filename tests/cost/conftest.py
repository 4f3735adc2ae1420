"""Fixtures for cost tests: a real PostgreSQL for the session, ledgers on both backends, the fixture
ledgers (fixtures/ledger/*.csv), a fake SMTP server, and gateways whose ledger these tests control.

PostgreSQL: `initdb` in a temporary folder owned by an unprivileged user (tests run as root in CI and
initdb refuses root: the Debian package's `postgres` user, else one this fixture creates), started with
`pg_ctl` on a free 127.0.0.1 port with trust authentication, stopped (immediate mode) at session end.
Each test gets its own database. Without the binaries the PostgreSQL cases are skipped, except under
CI=true, where that is a failure.
"""

from __future__ import annotations

import asyncio
import csv
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest

from modelmux.cost.ledger import Ledger, UsageRecord, open_ledger
from tests.cost.smtp import SmtpServer
from tests.e2e.conftest import TEST_API_KEY, Gateway, compile_yaml, free_port, launch
from tests.e2e.conftest import upstream as upstream  # the fake upstream fixture
from tests.fakes import FakeServer, Reply

LEDGER_FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ledger"
T = TypeVar("T")


@dataclass
class PostgresCluster:
    port: int
    data: str
    bin: str
    user: str

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return name

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _postgres_bin() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    return os.path.dirname(os.path.realpath(initdb)) if initdb else None


def _unprivileged_user() -> str:
    for name in ("postgres", "modelmux-pg"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    subprocess.run(["useradd", "--system", "--no-create-home", "modelmux-pg"], check=True)
    return "modelmux-pg"


def _run(cmd: list[str], user: str | None) -> None:
    full = ["runuser", "-u", user, "--", *cmd] if user else cmd
    done = subprocess.run(full, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    binaries = _postgres_bin()
    if binaries is None:
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL binaries are missing (.ci/run installs the postgresql package)")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    user = _unprivileged_user() if os.geteuid() == 0 else None
    folder = tempfile.mkdtemp(prefix="modelmux-pg-")
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    data = os.path.join(folder, "data")
    port = free_port()
    _run([f"{binaries}/initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"], user)
    options = (
        f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    log = os.path.join(folder, "postgres.log")
    _run([f"{binaries}/pg_ctl", "-D", data, "-l", log, "-w", "-t", "60", "-o", options, "start"], user)
    try:
        yield PostgresCluster(port, data, binaries, user or "")
    finally:
        _run([f"{binaries}/pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"], user)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A storage URL for an empty ledger, on each backend (relative to `tmp_path` for SQLite)."""
    if request.param == "sqlite":
        yield "sqlite:///usage.db"
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    name = cluster.create_database()
    yield cluster.url(name)
    cluster.drop_database(name)


@pytest.fixture
def ledger(storage: str, tmp_path: Path) -> Iterator[Ledger]:
    found = open_ledger(storage, str(tmp_path))
    found.migrate()
    yield found
    found.close()


def _cell(value: str) -> str | None:
    return value if value != "" else None


def read_ledger_csv(name: str) -> list[UsageRecord]:
    """Rows of fixtures/ledger/NAME.csv (empty cells are NULL, times UTC)."""
    with (LEDGER_FIXTURES / f"{name}.csv").open(encoding="utf-8", newline="") as handle:
        return [
            UsageRecord(
                ts=datetime.fromisoformat(row["ts"].replace("Z", "+00:00")),
                request_id=row["request_id"],
                key_name=_cell(row["key_name"]),
                user=_cell(row["user"]),
                org=_cell(row["org"]),
                team=_cell(row["team"]),
                endpoint=row["endpoint"],
                route=row["route"],
                provider=_cell(row["provider"]),
                model=row["model"],
                upstream_model=_cell(row["upstream_model"]),
                prompt_tokens=int(row["prompt_tokens"]),
                completion_tokens=int(row["completion_tokens"]),
                cached_tokens=int(row["cached_tokens"]),
                cost=Decimal(row["cost_usd"]),
                status=int(row["status"]),
                latency_ms=float(row["latency_ms"]),
                stream=row["stream"] == "true",
            )
            for row in csv.DictReader(handle)
        ]


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def webhook() -> Iterator[FakeServer]:
    with FakeServer() as server:
        server.script("POST", "/hook", Reply.json({"ok": True}))
        yield server


# Gateways this module starts and stops itself (a restart test stops one and starts another) --------


@dataclass
class Gateways:
    folder: Path
    started: list[Gateway]

    def start(self, text: str, env: dict[str, str]) -> Gateway:
        path = self.folder / f"{len(self.started)}-modelmux.yaml"
        plan, public = compile_yaml(path, text, {"TEST_API_KEY": TEST_API_KEY, **env})
        gateway = launch(plan, public, path)
        self.started.append(gateway)
        return gateway

    def stop(self, gateway: Gateway) -> None:
        self.started.remove(gateway)
        gateway.stop()
        assert not gateway.violations, gateway.violations


@pytest.fixture
def gateways(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Gateways]:
    if "storage" in request.fixturenames:
        request.getfixturevalue("storage")  # set up first, so the ledger outlives the gateways using it
    found = Gateways(tmp_path, [])
    yield found
    for gateway in list(found.started):
        found.stop(gateway)


def on_gateway(gateway: Gateway, work: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on the gateway's event loop (its services live there) and wait for it."""
    return asyncio.run_coroutine_threadsafe(work, gateway._loop).result(timeout=30)


def settle(gateway: Gateway) -> None:
    """Wait until the gateway has settled every cost, written every ledger row and sent every alert."""
    on_gateway(gateway, gateway.services.costs.flush())
