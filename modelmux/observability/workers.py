"""Metrics across the worker processes of `modelmux serve --workers N` (used by the supervisor).

The supervisor gives its workers a folder for prometheus_client's multi-process files, inside its own
temporary folder (removed with it at shutdown), and tells prometheus_client when a worker has died so
the live gauges of that worker stop counting.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_metrics_folder(parent: Path, environ: MutableMapping[str, str]) -> Path:
    """Create `parent/metrics` and point the workers (started after this) at it."""
    folder = parent / "metrics"
    folder.mkdir(exist_ok=True)
    environ[MULTIPROC_ENV] = str(folder)
    return folder


def worker_exited(pid: int | None, folder: Path) -> None:
    """Forget the live gauges of a worker that exited; its counters keep counting in the totals."""
    if pid is None or not folder.is_dir():
        return
    from prometheus_client.multiprocess import mark_process_dead

    mark_process_dead(pid, os.fspath(folder))  # type: ignore[no-untyped-call]
