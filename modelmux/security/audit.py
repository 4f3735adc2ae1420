"""The audit log's format: append-only JSON Lines, each entry sealed into a hash chain.

Every entry carries `seq` (1, 2, 3... in the file), `prev` (the hash of the entry before it; 64 zeros
for the first) and `hash`, the sha256 of the entry's canonical JSON (sorted keys, without `hash`).
Editing an entry breaks its own hash; removing, inserting or reordering entries breaks the `prev` link
of the entry after; cutting entries off the end is caught by the head file (`PATH.head`), which records
the last entry's `seq` and `hash` after every append. Rewrites (retention, erasure) re-seal the chain and
record themselves in it: a `retention` entry first, carrying the hash of the dropped prefix, or an
`erasure` entry last, carrying the hash of the chain's head before the rewrite.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

GENESIS = "0" * 64
Entry = dict[str, Any]


class AuditError(Exception):
    """An audit log that cannot be read or rewritten safely; the message says why."""


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def entry_hash(entry: Entry) -> str:
    """The sha256 of an entry's canonical JSON, `hash` left out."""
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def seal(entry: Entry, seq: int, prev: str) -> tuple[bytes, str]:
    """The entry as one line of the log, chained after `prev`, and its hash."""
    sealed = {k: v for k, v in entry.items() if k not in ("seq", "prev", "hash")}
    sealed["seq"] = seq
    sealed["prev"] = prev
    digest = entry_hash(sealed)
    sealed["hash"] = digest
    return orjson.dumps(sealed, option=orjson.OPT_SORT_KEYS) + b"\n", digest


def seal_all(entries: Iterable[Entry], seq: int = 0, prev: str = GENESIS) -> tuple[list[bytes], int, str]:
    lines = []
    for entry in entries:
        seq += 1
        line, prev = seal(entry, seq, prev)
        lines.append(line)
    return lines, seq, prev


def head_path(path: Path) -> Path:
    return path.with_name(path.name + ".head")


def write_head(path: Path, seq: int, digest: str) -> None:
    """Record the chain's head atomically (a temporary file renamed over the old one)."""
    target = head_path(path)
    temporary = target.with_name(target.name + ".tmp")
    temporary.write_bytes(orjson.dumps({"seq": seq, "hash": digest}))
    os.replace(temporary, target)


def read_head(path: Path) -> tuple[int, str] | None:
    try:
        data = orjson.loads(head_path(path).read_bytes())
        return int(data["seq"]), str(data["hash"])
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


@dataclass
class Verification:
    ok: bool = True
    entries: int = 0
    bad_line: int | None = None
    problem: str | None = None
    events: list[str] = field(default_factory=list)
    head_checked: bool = False
    last_seq: int = 0
    last_hash: str = GENESIS

    def fail(self, line: int, problem: str) -> Verification:
        self.ok, self.bad_line, self.problem = False, line, problem
        return self


def read_lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        yield from handle


def verify(path: Path) -> Verification:
    """Check the whole chain and the head; the first bad line (1-based) and what is wrong with it."""
    result = Verification()
    if not path.exists():
        return result.fail(0, f"{path} does not exist")
    head = read_head(path)
    head_seen = False
    prev, line_number = GENESIS, 0
    for line_number, raw in enumerate(read_lines(path), start=1):
        problem = _check_line(raw, line_number, prev, result)
        if problem is not None:
            return result.fail(line_number, problem)
        prev = result.last_hash
        if head is not None and head[0] == result.last_seq:
            if head[1] != result.last_hash:
                return result.fail(line_number, "the entry is not the one the head file records: it was replaced")
            head_seen = True
    if head is None:
        return result
    result.head_checked = True
    if not head_seen and head[0] > result.last_seq:
        return result.fail(
            line_number + 1,
            f"the log ends at entry {result.last_seq} but its head records entry {head[0]}: entries were cut off",
        )
    return result


def _check_line(raw: bytes, number: int, prev: str, result: Verification) -> str | None:
    if not raw.endswith(b"\n"):
        return "the line is incomplete (the log was cut in the middle of an entry)"
    try:
        entry = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return "the line is not valid JSON"
    if not isinstance(entry, dict) or not isinstance(entry.get("hash"), str):
        return "the line is not an audit entry"
    if entry_hash(entry) != entry["hash"]:
        return "the entry was edited: its hash does not match its content"
    if entry.get("prev") != prev:
        where = "the start of the log" if number == 1 else f"line {number - 1}"
        return f"the entry does not follow {where}: an entry was removed, inserted or reordered"
    if entry.get("seq") != result.last_seq + 1:
        return f"sequence number {entry.get('seq')!r}, expected {result.last_seq + 1}"
    result.entries += 1
    result.last_seq, result.last_hash = entry["seq"], entry["hash"]
    event = describe_event(entry)
    if event is not None:
        result.events.append(f"line {number}: {event}")
    return None


def describe_event(entry: Entry) -> str | None:
    if entry.get("kind") == "retention":
        return f"retention dropped {entry.get('dropped')} entries older than {entry.get('before')}"
    if entry.get("kind") == "erasure":
        return f"erasure removed {entry.get('removed')} entries of one user at {entry.get('time')}"
    return None
