"""A real `redis-server` for tests: its own port on 127.0.0.1, its own temp folder, no persistence.

`start_redis(folder)` starts one and waits until it answers PING; `RedisServer.kill()` stops it (a test
of an outage kills its own server, never the session's). The `redis_server` fixture (session-scoped)
and `redis_url` (one per test, the database flushed first) are imported by the conftests that need them.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

STARTUP_BOUND = 15.0


@dataclass
class RedisServer:
    port: int
    folder: Path
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5.0)

    def flush(self) -> None:
        with self.client() as client:
            client.flushall()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def log(self) -> str:
        path = self.folder / "redis.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def redis_binary() -> str:
    fallback = Path("/usr/bin/redis-server")
    found = shutil.which("redis-server") or (str(fallback) if fallback.exists() else None)
    if found is None:
        pytest.fail("these tests need redis-server (apt-get install redis-server)")
    return found


def start_redis(folder: Path, port: int | None = None) -> RedisServer:
    """Start redis-server in `folder`; a second try on another port if the first was taken meanwhile."""
    folder.mkdir(parents=True, exist_ok=True)
    last = ""
    for _ in range(3):
        chosen = port or _free_port()
        command = [
            redis_binary(),
            "--port", str(chosen),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(folder),
            "--logfile", str(folder / "redis.log"),
        ]  # fmt: skip
        process = subprocess.Popen(command, cwd=folder, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        server = RedisServer(chosen, folder, process)
        if _wait_ready(server):
            return server
        last = server.log()
        server.kill()
    raise AssertionError(f"redis-server did not start:\n{last}")


def _wait_ready(server: RedisServer) -> bool:
    deadline = time.monotonic() + STARTUP_BOUND
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        try:
            with server.client() as client:
                if client.ping():
                    return True
        except redis.RedisError:
            time.sleep(0.05)
    return False


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.kill()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session's Redis, emptied for this test."""
    redis_server.flush()
    return redis_server.url
