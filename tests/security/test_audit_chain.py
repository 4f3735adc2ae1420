"""The audit log's hash chain: verification catches edits, removals, reorderings and truncation;
retention and erasure rewrite the chain so that it still verifies, and record themselves in it; several
processes appending at once keep one linear chain."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from modelmux.cli.app import app
from modelmux.security.audit import AuditError, head_path, verify
from modelmux.security.audit_rewrite import erase_user, purge_older_than
from modelmux.security.audit_writer import AuditWriter, append

runner = CliRunner()


def entry(user: str, when: datetime | None = None, **extra: object) -> dict[str, object]:
    stamp = (when or datetime.now(UTC)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"kind": "request", "time": stamp, "user": user, "key": f"{user}-key", "status": 200, **extra}


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "audit.jsonl"
    append(path, [entry(user) for user in ("alice", "bob", "alice", "carol", "bob")])
    return path


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def test_an_untouched_log_verifies(log: Path) -> None:
    result = verify(log)
    assert result.ok and result.entries == 5 and result.head_checked
    first = orjson.loads(lines(log)[0])
    assert first["prev"] == "0" * 64 and first["seq"] == 1


def test_an_edited_entry_is_found(log: Path) -> None:
    content = lines(log)
    content[2] = content[2].replace(b'"status":200', b'"status":500')
    log.write_bytes(b"".join(content))
    result = verify(log)
    assert not result.ok and result.bad_line == 3 and "edited" in (result.problem or "")


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(log: Path) -> None:
    from modelmux.security.audit import entry_hash

    content = lines(log)
    edited = orjson.loads(content[1])
    edited["user"] = "mallory"
    edited["hash"] = entry_hash(edited)
    content[1] = orjson.dumps(edited, option=orjson.OPT_SORT_KEYS) + b"\n"
    log.write_bytes(b"".join(content))
    result = verify(log)
    assert not result.ok and result.bad_line == 3


def test_a_removed_entry_is_found(log: Path) -> None:
    content = lines(log)
    del content[1]
    log.write_bytes(b"".join(content))
    result = verify(log)
    assert not result.ok and result.bad_line == 2 and "removed" in (result.problem or "")


def test_reordered_entries_are_found(log: Path) -> None:
    content = lines(log)
    content[1], content[2] = content[2], content[1]
    log.write_bytes(b"".join(content))
    assert verify(log).bad_line == 2


def test_entries_cut_off_the_end_are_found(log: Path) -> None:
    log.write_bytes(b"".join(lines(log)[:3]))
    result = verify(log)
    assert not result.ok and result.bad_line == 4 and "cut off" in (result.problem or "")


def test_a_log_cut_mid_entry_is_found(log: Path) -> None:
    data = log.read_bytes()
    log.write_bytes(data[: len(data) - 20])
    result = verify(log)
    assert not result.ok and result.bad_line == 5


def test_a_replaced_last_entry_is_found(log: Path) -> None:
    recorded = head_path(log).read_bytes()
    log.write_bytes(b"".join(lines(log)[:4]))
    append(log, [entry("mallory")])  # a forged fifth entry, chained properly...
    head_path(log).write_bytes(recorded)  # ...but not the one the head recorded
    result = verify(log)
    assert not result.ok and result.bad_line == 5 and "replaced" in (result.problem or "")


def test_retention_drops_old_entries_and_the_chain_still_verifies(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    old = datetime.now(UTC) - timedelta(days=100)
    append(path, [entry("alice", old), entry("bob", old), entry("carol")])
    dropped_hash = orjson.loads(lines(path)[1])["hash"]
    assert purge_older_than(path, datetime.now(UTC) - timedelta(days=90)) == 2
    result = verify(path)
    assert result.ok and result.entries == 2
    marker = orjson.loads(lines(path)[0])
    assert marker["kind"] == "retention" and marker["dropped"] == 2 and marker["dropped_hash"] == dropped_hash
    assert "retention dropped 2" in result.events[0]
    assert purge_older_than(path, datetime.now(UTC) - timedelta(days=90)) == 0


def test_erasure_removes_a_user_and_is_recorded(log: Path) -> None:
    assert erase_user(log, "alice") == 2
    result = verify(log)
    assert result.ok and result.entries == 4
    content = [orjson.loads(line) for line in lines(log)]
    assert all(e.get("user") != "alice" for e in content)
    assert b"alice" not in log.read_bytes()
    assert content[-1]["kind"] == "erasure" and content[-1]["removed"] == 2
    assert "erasure removed 2" in result.events[-1]
    append(log, [entry("dave")])
    assert verify(log).ok


def test_a_log_that_does_not_verify_is_not_rewritten(log: Path) -> None:
    content = lines(log)
    del content[1]
    log.write_bytes(b"".join(content))
    with pytest.raises(AuditError):
        erase_user(log, "bob")


def test_the_cli_verifies_and_purges(log: Path) -> None:
    result = runner.invoke(app, ["audit", "verify", str(log)])
    assert result.exit_code == 0 and "5 entries" in result.output
    result = runner.invoke(app, ["audit", "purge", str(log), "--user", "bob"])
    assert result.exit_code == 0 and "removed 2" in result.output
    result = runner.invoke(app, ["audit", "verify", str(log)])
    assert result.exit_code == 0 and "erasure" in result.output
    assert runner.invoke(app, ["audit", "purge", str(log), "--older-than", "30d"]).exit_code == 0
    assert runner.invoke(app, ["audit", "purge", str(log)]).exit_code == 2
    content = lines(log)
    log.write_bytes(b"".join([content[1], content[0], *content[2:]]))
    result = runner.invoke(app, ["audit", "verify", str(log)])
    assert result.exit_code == 1 and "line 1" in result.output


def test_the_writer_appends_off_the_caller_thread_and_flushes(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    writer = AuditWriter(path)
    for index in range(50):
        writer.submit(entry(f"user-{index}"))
    assert writer.flush()
    writer.close()
    assert verify(path).entries == 50
    writer.submit(entry("after-close"))  # a closed writer starts again
    writer.close()
    assert verify(path).entries == 51


def test_processes_appending_at_once_keep_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    script = (
        "import sys\n"
        "from modelmux.security.audit_writer import append\n"
        "for i in range(40):\n"
        "    append(__import__('pathlib').Path(sys.argv[1]), [{'kind': 'request', 'user': sys.argv[2], 'n': i}])\n"
    )
    workers = [subprocess.Popen([sys.executable, "-c", script, str(path), f"w{n}"]) for n in range(4)]
    assert [worker.wait(timeout=60) for worker in workers] == [0, 0, 0, 0]
    result = verify(path)
    assert result.ok and result.entries == 160


def test_the_writer_applies_retention_before_appending(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    append(path, [entry("alice", datetime.now(UTC) - timedelta(days=40)), entry("bob")])
    writer = AuditWriter(path, retention=30 * 86400.0, purge=purge_older_than)
    writer.submit(entry("carol"))
    writer.close()
    result = verify(path)
    content = [orjson.loads(line) for line in lines(path)]
    assert result.ok and [e.get("user") for e in content] == [None, "bob", "carol"]
    assert content[0]["kind"] == "retention" and content[0]["dropped"] == 1
