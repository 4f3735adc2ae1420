"""Rewrites of the audit log that the chain records: retention and erasure.

Both run under the writers' lock, refuse a log that does not verify (a rewrite must not launder
tampering), write the new chain to a temporary file that replaces the log in one rename, and update
the head. Retention drops the entries older than a cutoff and starts the new chain with a `retention`
entry carrying the hash of the last dropped entry (which commits to the whole dropped prefix). Erasure
removes one user's entries and ends the new chain with an `erasure` entry carrying the sha256 of the
user id (never the id) and the hash of the old chain's head.
"""

from __future__ import annotations

import hashlib
import os
from datetime import datetime
from pathlib import Path

import orjson

from modelmux.security.audit import AuditError, Entry, parse_time, read_lines, seal_all, utc_now, verify, write_head
from modelmux.security.audit_writer import locked


def purge_older_than(path: Path, cutoff: datetime) -> int:
    """Drop the entries older than `cutoff`; the number dropped (0 leaves the file untouched)."""
    with locked(path):
        entries = _verified_entries(path)
        dropped = 0
        while dropped < len(entries) and _older(entries[dropped], cutoff):
            dropped += 1
        if dropped == 0:
            return 0
        marker: Entry = {
            "kind": "retention",
            "time": utc_now(),
            "before": cutoff.isoformat(timespec="seconds"),
            "dropped": dropped,
            "dropped_hash": entries[dropped - 1]["hash"],
        }
        _replace(path, [marker, *entries[dropped:]])
        return dropped


def erase_user(path: Path, user: str) -> int:
    """Remove every entry of `user` and record the erasure; the number removed."""
    with locked(path):
        entries = _verified_entries(path)
        kept = [entry for entry in entries if entry.get("user") != user]
        removed = len(entries) - len(kept)
        marker: Entry = {
            "kind": "erasure",
            "time": utc_now(),
            "subject_sha256": hashlib.sha256(user.encode()).hexdigest(),
            "removed": removed,
            "previous_head": entries[-1]["hash"] if entries else None,
        }
        _replace(path, [*kept, marker])
        return removed


def _older(entry: Entry, cutoff: datetime) -> bool:
    try:
        return parse_time(str(entry["time"])) < cutoff
    except (KeyError, ValueError):
        return False


def _verified_entries(path: Path) -> list[Entry]:
    if not path.exists():
        return []
    check = verify(path)
    if not check.ok:
        raise AuditError(f"{path} does not verify (line {check.bad_line}: {check.problem}); not rewriting it")
    return [orjson.loads(line) for line in read_lines(path)]


def _replace(path: Path, entries: list[Entry]) -> None:
    lines, seq, head = seal_all(entries)
    temporary = path.with_name(path.name + ".rewrite")
    with open(temporary, "wb") as handle:
        handle.write(b"".join(lines))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    _sync_directory(path.parent)
    write_head(path, seq, head)


def _sync_directory(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
