"""Hot reload: watch the config, every included file and the custom script, and swap in new plans.

Directories are watched rather than files, because editors and `kubectl`'s ConfigMap updates replace
files by renaming. Changes are debounced; the compile runs off the event loop (`Services.reload`). With
several workers, a reload asked of one worker (`POST /admin/reload`, `SIGHUP`) touches a shared marker
file that every worker watches, so all of them end on the same plan fingerprint.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from pathlib import Path

from modelmux.runtime.services import Services

log = logging.getLogger("modelmux.reload")
MARKER_ENV = "MODELMUX_RELOAD_MARKER"


def marker_path() -> Path | None:
    value = os.environ.get(MARKER_ENV)
    return Path(value) if value else None


def touch_marker(marker: Path | None = None) -> None:
    """Tell every worker to reload (a no-op with a single process and no marker)."""
    target = marker or marker_path()
    if target is not None:
        target.write_text(str(os.getpid()))


def watched_files(services: Services, marker: Path | None) -> set[str]:
    plan = services.holder.plan
    files = {str(Path(f).resolve()) for f in (plan.watch_files if plan else ())}
    if services.holder.source:
        files.add(str(Path(services.holder.source).resolve()))
    if marker is not None:
        files.add(str(marker.resolve()))
    return files


class ConfigWatcher:
    def __init__(self, services: Services, *, marker: Path | None = None, debounce_ms: int = 250) -> None:
        self.services = services
        self.marker = marker
        self.debounce_ms = debounce_ms
        self.reloads = 0

    async def run(self, stop: asyncio.Event) -> None:
        from watchfiles import awatch

        while not stop.is_set():
            files = watched_files(self.services, self.marker)
            folders = sorted({str(Path(f).parent) for f in files if Path(f).parent.is_dir()})
            if not folders:
                return
            async for _ in awatch(
                *folders, watch_filter=_only(files), debounce=self.debounce_ms, stop_event=stop, recursive=False
            ):
                await self._reload()
                if watched_files(self.services, self.marker) != files:
                    break  # an include was added or removed: watch the new set of files

    async def _reload(self) -> None:
        self.reloads += 1
        try:
            await self.services.reload()
        except Exception:
            log.exception("config reload crashed; keeping the running plan")


def _only(files: set[str]) -> Callable[[object, str], bool]:
    def accept(_change: object, path: str) -> bool:
        return str(Path(path).resolve()) in files

    return accept
