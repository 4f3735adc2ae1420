"""Each doctor check, with a case that passes and a case that fails."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelmux.compiler.compile import compile_file
from modelmux.doctor.checks import (
    FAIL,
    OK,
    WARN,
    check_aws_credentials,
    check_config,
    check_database,
    check_environment,
    check_port,
    check_python,
    check_redis,
    check_vertex_credentials,
)

GOOD = "providers:\n  - name: m\n    type: mock\n"
BAD = "providers:\n  - name: m\n    type: mokc\n"
PEM = "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n"


def statuses(checks: object) -> list[str]:
    return [c.status for c in checks]  # type: ignore[attr-defined]


def test_config_check_passes_and_fails() -> None:
    assert statuses(check_config("good.yaml", compile_file("good.yaml", {}, text=GOOD))) == [OK]
    failed = list(check_config("bad.yaml", compile_file("bad.yaml", {}, text=BAD)))
    assert statuses(failed) == [FAIL]
    assert "unknown provider type 'mokc'" in failed[0].detail
    assert "modelmux validate bad.yaml" in failed[0].fix


def test_environment_check_names_each_missing_variable() -> None:
    data = {"providers": [{"api_key": "${KEY_A}", "headers": {"x": "${KEY_B:-fallback}"}}]}
    checks = {c.name: c for c in check_environment(data, {"KEY_A": "set"})}
    assert checks["env KEY_A"].status == OK
    assert checks["env KEY_B"].status == FAIL
    assert "export KEY_B" in checks["env KEY_B"].fix
    assert statuses(check_environment(data, {"KEY_A": "", "KEY_B": "x"})) == [WARN, OK]


def vertex(credentials: str | None) -> list[dict[str, object]]:
    return [{"name": "v", "type": "vertex_ai", "credentials": credentials}]


def test_vertex_service_account_file_is_checked(tmp_path: Path) -> None:
    good = tmp_path / "sa.json"
    good.write_text(
        json.dumps(
            {
                "type": "service_account",
                "client_email": "a@b.iam",
                "private_key": PEM,
                "token_uri": "https://t",
            }
        )
    )
    [ok] = check_vertex_credentials(vertex("sa.json"), tmp_path)
    assert ok.status == OK and "a@b.iam" in ok.detail
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    [bad] = check_vertex_credentials(vertex("broken.json"), tmp_path)
    assert bad.status == FAIL and "not readable JSON" in bad.detail
    incomplete = tmp_path / "incomplete.json"
    incomplete.write_text(json.dumps({"type": "service_account", "client_email": "a@b"}))
    [missing_key] = check_vertex_credentials(vertex("incomplete.json"), tmp_path)
    assert missing_key.status == FAIL and "private_key" in missing_key.detail
    [absent] = check_vertex_credentials(vertex("nope.json"), tmp_path)
    assert absent.status == FAIL and "does not exist" in absent.detail


def test_aws_credentials_from_the_environment_or_none(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pytest.importorskip("botocore")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    bedrock = [{"name": "b", "type": "bedrock", "credentials": None}]
    [missing] = check_aws_credentials(bedrock)
    assert missing.status == FAIL and "AWS_ACCESS_KEY_ID" in missing.fix
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    [found] = check_aws_credentials(bedrock)
    assert found.status == OK and "env" in found.detail


@pytest.fixture
def fake_redis() -> Iterator[int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def answer() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                try:
                    if conn.recv(64):
                        conn.sendall(b"+PONG\r\n")
                except OSError:
                    continue

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    server.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_redis_check_pings(fake_redis: int) -> None:
    [ok] = check_redis(f"redis://127.0.0.1:{fake_redis}/0", 2.0)
    assert ok.status == OK
    [down] = check_redis(f"redis://127.0.0.1:{closed_port()}/0", 1.0)
    assert down.status == FAIL and "cannot connect" in down.detail


def test_database_check_for_sqlite_and_postgres(tmp_path: Path, fake_redis: int) -> None:
    [ok] = check_database("sqlite:///usage.db", tmp_path, 1.0)
    assert ok.status == OK
    [missing] = check_database("sqlite:///nowhere/usage.db", tmp_path, 1.0)
    assert missing.status == FAIL and "mkdir -p" in missing.fix
    [listening] = check_database(f"postgresql://u@127.0.0.1:{fake_redis}/db", tmp_path, 1.0)
    assert listening.status == OK
    [down] = check_database(f"postgresql://u@127.0.0.1:{closed_port()}/db", tmp_path, 1.0)
    assert down.status == FAIL


def test_port_check_sees_a_port_in_use() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        [taken] = check_port("127.0.0.1", port)
    assert taken.status == FAIL and "--port" in taken.fix
    [free] = check_port("127.0.0.1", closed_port())
    assert free.status == OK


def test_python_and_package_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    checks = list(check_python())
    assert checks[0].status == OK
    assert all(c.status == OK for c in checks)
    monkeypatch.setattr("modelmux.doctor.checks.DEPENDENCIES", (("pydantic", "999.0"), ("no-such-package", "1")))
    failed = list(check_python())[1:]
    assert [c.status for c in failed] == [FAIL, FAIL]
    assert "not installed" in failed[1].detail


def test_doctor_command_exit_codes(tmp_path: Path) -> None:
    modelmux = str(Path(sys.executable).parent / "modelmux")
    good = tmp_path / "good.yaml"
    good.write_text(GOOD + f"server:\n  port: {closed_port()}\n")
    result = subprocess.run([modelmux, "doctor", str(good)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout
    assert "compiles, plan" in result.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    result = subprocess.run([modelmux, "doctor", str(bad)], capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert "FAIL" in result.stdout
