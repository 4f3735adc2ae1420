"""Appends audit entries off the event loop: a queue and one writer thread per file and process.

Each batch is written under an exclusive `flock` on `PATH.lock`, after reading the chain's head from the
file itself (another worker process may have appended since), then flushed, fsynced and recorded in the
head file; so with `--workers N` the chain stays one line. `flush()` waits until everything submitted is
on disk; `close_writers()` runs at graceful shutdown (and at exit). With a retention period, entries older
than it are purged when the writer starts and then hourly.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from modelmux.security.audit import GENESIS, AuditError, Entry, seal_all, write_head

log = logging.getLogger("modelmux.audit")

RETENTION_CHECK_INTERVAL = 3600.0
_STOP = object()


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """The exclusive lock every writer and rewriter of `path` takes (a sidecar file, so that a rewrite
    can replace the log itself)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def tail_of(path: Path) -> tuple[int, str]:
    """(seq, hash) of the log's last entry; (0, GENESIS) for a missing or empty log."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return 0, GENESIS
    with handle:
        end = handle.seek(0, os.SEEK_END)
        data, position = b"", end
        while position > 0 and data.count(b"\n") < 2:
            step = min(65536, position)
            position -= step
            handle.seek(position)
            data = handle.read(step) + data
    lines = data.rstrip(b"\n").rsplit(b"\n", 1)
    if not lines[-1]:
        return 0, GENESIS
    try:
        last = orjson.loads(lines[-1])
        return int(last["seq"]), str(last["hash"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        raise AuditError(f"the last line of {path} is not an audit entry; run `modelmux audit verify`") from None


def append(path: Path, entries: list[Entry]) -> None:
    """Seal and append `entries` after the chain's current head; durable when this returns."""
    with locked(path):
        seq, prev = tail_of(path)
        lines, seq, prev = seal_all(entries, seq, prev)
        with open(path, "ab") as handle:
            handle.write(b"".join(lines))
            handle.flush()
            os.fsync(handle.fileno())
        write_head(path, seq, prev)


class AuditWriter:
    def __init__(
        self, path: Path, retention: float | None = None, purge: Callable[[Path, datetime], int] | None = None
    ) -> None:
        self.path = path
        self.retention = retention
        self.purge = purge
        self._queue: queue.SimpleQueue[object] | None = None
        self._thread: threading.Thread | None = None
        self._guard = threading.Lock()
        self._next_retention = 0.0

    def submit(self, entry: Entry) -> None:
        """Queue an entry; never blocks on IO."""
        with self._guard:
            if self._queue is None:
                self._queue = queue.SimpleQueue()
                self._thread = threading.Thread(
                    target=self._run, args=(self._queue,), name=f"audit-{self.path.name}", daemon=True
                )
                self._thread.start()
            self._queue.put(entry)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every entry submitted so far is on disk."""
        done = threading.Event()
        with self._guard:
            if self._queue is None:
                return True
            self._queue.put(done)
        return done.wait(timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Write out what is queued and stop the thread."""
        with self._guard:
            pending, thread = self._queue, self._thread
            self._queue = self._thread = None
            if pending is not None:
                pending.put(_STOP)
        if thread is not None:
            thread.join(timeout)

    def _run(self, pending: queue.SimpleQueue[object]) -> None:
        stop = False
        while not stop:
            batch, waiters, stop = _drain(pending, pending.get())
            if batch:
                self._write(batch)
            for waiter in waiters:
                waiter.set()

    def _write(self, batch: list[Entry]) -> None:
        try:
            self._apply_retention()
            append(self.path, batch)
        except (OSError, AuditError) as exc:
            log.error("could not append %d entries to the audit log %s: %s", len(batch), self.path, exc)

    def _apply_retention(self) -> None:
        now = time.monotonic()
        if self.retention is None or self.purge is None or now < self._next_retention:
            return
        self._next_retention = now + RETENTION_CHECK_INTERVAL
        cutoff = datetime.now(UTC) - timedelta(seconds=self.retention)
        dropped = self.purge(self.path, cutoff)
        if dropped:
            log.info("audit retention dropped %d entries older than %s from %s", dropped, cutoff, self.path)


def _drain(pending: queue.SimpleQueue[object], item: object) -> tuple[list[Entry], list[threading.Event], bool]:
    """`item` and whatever else is queued already (up to a batch): entries, flush waiters, a stop."""
    batch: list[Entry] = []
    waiters: list[threading.Event] = []
    stop = False
    while True:
        if item is _STOP:
            stop = True
        elif isinstance(item, threading.Event):
            waiters.append(item)
        elif isinstance(item, dict):
            batch.append(item)
        if stop or len(batch) >= 1000:
            return batch, waiters, stop
        try:
            item = pending.get_nowait()
        except queue.Empty:
            return batch, waiters, stop


_WRITERS: dict[Path, AuditWriter] = {}
_WRITERS_GUARD = threading.Lock()


def writer_for(path: Path, retention: float | None, purge: Callable[[Path, datetime], int] | None) -> AuditWriter:
    """The one writer of `path` in this process."""
    resolved = path.resolve()
    with _WRITERS_GUARD:
        found = _WRITERS.get(resolved)
        if found is None:
            found = _WRITERS[resolved] = AuditWriter(resolved, retention, purge)
        found.retention, found.purge = retention, purge
        return found


def flush_writers(timeout: float = 10.0) -> bool:
    """Wait until every entry submitted so far, by every writer, is on disk."""
    with _WRITERS_GUARD:
        writers = list(_WRITERS.values())
    return all(writer.flush(timeout) for writer in writers)


def close_writers() -> None:
    """Write out, fsync and stop every writer (graceful shutdown); a later entry starts one again."""
    with _WRITERS_GUARD:
        writers = list(_WRITERS.values())
    for writer in writers:
        writer.close()


atexit.register(close_writers)
