"""Keep the bot's data folder from growing: expired kept clips and stale work folders go.

Every job works in its own folder under work/ (clip-*, deliver-*) and removes it when it ends;
a crash or a kill can leave one behind. At start nothing is running yet, so everything under
work/ is removed; after that, every `interval` seconds, folders older than `stale_after` (longer
than any item may run) are removed, expired kept clips are deleted, and empty chat folders under
kept/ are dropped. `sweep(now)` is one pass; tests pass a future `now` instead of waiting.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from core.store import Store

log = logging.getLogger(__name__)


@dataclass
class SweepResult:
    clips: int = 0
    work: int = 0


class Housekeeping:
    def __init__(self, store: Store, work_dir: Path, keep_dir: Path, *, interval: float = 3600.0,
                 stale_after: float = 2 * 3600.0) -> None:
        self.store = store
        self.work_dir = Path(work_dir)
        self.keep_dir = Path(keep_dir)
        self.interval = interval
        self.stale_after = stale_after
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        """One full sweep (nothing runs yet, so all of work/ is stale), then the periodic one."""
        await self.sweep(stale_after=0)
        if self._task is None and self.interval > 0:
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.sweep()
            except Exception:  # one failed sweep must not end the next ones
                log.exception("housekeeping sweep failed")

    async def sweep(self, now: float | None = None, stale_after: float | None = None) -> SweepResult:
        now = time.time() if now is None else now
        stale_after = self.stale_after if stale_after is None else stale_after
        result = SweepResult()
        for path in await self.store.expire_clips(now=now):
            path.unlink(missing_ok=True)
            result.clips += 1
        result.work = await asyncio.to_thread(self._tidy_files, now, stale_after)
        if result.clips or result.work:
            log.info("housekeeping: %d expired clip(s), %d stale work folder(s) removed", result.clips, result.work)
        return result

    def _tidy_files(self, now: float, stale_after: float) -> int:
        removed = 0
        if self.work_dir.is_dir():
            for entry in self.work_dir.iterdir():
                try:
                    old = now - entry.stat().st_mtime >= stale_after
                except FileNotFoundError:
                    continue  # its job just removed it
                if old:
                    if entry.is_dir():
                        shutil.rmtree(entry, ignore_errors=True)
                    else:
                        entry.unlink(missing_ok=True)
                    removed += 1
        if self.keep_dir.is_dir():
            for chat_dir in self.keep_dir.iterdir():
                # Only a folder quiet for a minute: a clip may be on its way into a fresh one.
                if chat_dir.is_dir() and not any(chat_dir.iterdir()) and now - chat_dir.stat().st_mtime >= 60:
                    try:
                        chat_dir.rmdir()
                    except OSError:
                        pass  # a clip arrived meanwhile after all
        return removed
