"""The multi-worker supervisor of `modelmux serve --workers N`.

Like Hypercorn's own runner (shared listening sockets, spawned worker processes, one shutdown event),
with two differences a gateway needs: `SIGHUP` hot-reloads every worker through the shared reload marker
instead of restarting them, and a worker that dies is replaced rather than taking the server down.
"""

from __future__ import annotations

import logging
import signal
import tempfile
from multiprocessing import get_context
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from modelmux.observability.workers import prepare_metrics_folder, worker_exited
from modelmux.runtime.reload import MARKER_ENV, touch_marker

log = logging.getLogger("modelmux.supervisor")


def supervise(config: Any, workers: int, environ: dict[str, str]) -> int:
    """Run `workers` processes serving `config.application_path` until SIGTERM or SIGINT."""
    from hypercorn.asyncio.run import asyncio_worker, uvloop_worker

    worker = uvloop_worker if config.worker_class == "uvloop" else asyncio_worker
    with tempfile.TemporaryDirectory(prefix="modelmux-") as folder:
        marker = Path(folder) / "reload"
        marker.write_text("0")
        environ[MARKER_ENV] = str(marker)
        metrics = prepare_metrics_folder(Path(folder), environ)  # Prometheus values summed across workers
        sockets = config.create_sockets()
        context = get_context("spawn")
        shutdown = context.Event()
        processes: list[BaseProcess] = []
        stopping = False

        def stop(*_: object) -> None:
            nonlocal stopping
            stopping = True
            shutdown.set()

        def spawn() -> None:
            process = context.Process(
                target=worker, kwargs={"config": config, "shutdown_event": shutdown, "sockets": sockets}
            )
            process.start()
            processes.append(process)

        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for _ in range(workers):
            spawn()
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGHUP, lambda *_: touch_marker(marker))
        while not stopping:
            wait([p.sentinel for p in processes], timeout=1.0)
            for process in [p for p in processes if p.exitcode is not None]:
                processes.remove(process)
                worker_exited(process.pid, metrics)
                if not stopping:
                    log.error("worker %s exited with %s; starting a replacement", process.pid, process.exitcode)
                    spawn()
        for process in processes:
            process.join(config.graceful_timeout + 5)
            if process.exitcode is None:
                process.terminate()
                process.join()
        for sock in (*sockets.secure_sockets, *sockets.insecure_sockets):
            sock.close()
    return 0
