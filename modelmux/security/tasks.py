"""Fire-and-forget work started from synchronous code (response finalizers) on the running loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger("modelmux.security")

_running: set[asyncio.Task[None]] = set()


def spawn(work: Coroutine[Any, Any, None], what: str) -> None:
    """Run `work` on the running loop, holding a reference until it ends; failures are logged."""
    task = asyncio.get_running_loop().create_task(work)
    _running.add(task)
    task.add_done_callback(lambda done: _finished(done, what))


def _finished(task: asyncio.Task[None], what: str) -> None:
    _running.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("%s failed: %s", what, type(task.exception()).__name__)
