"""Retention: the backend's media must not grow forever.

- A finished render's file is deleted `render_keep_after_download` seconds after its first
  download, or `render_ttl` seconds after it finished if nobody downloaded it. The record stays
  (marked "purged"), so a late download gets a clear "expired, export again" answer.
- A session nobody used for `session_ttl` seconds is deleted with its uploads and render files.
  The bot then rebuilds a new session from its own kept clips if it still has them.
- `.work-*` folders a killed render left under renders/ are removed when no render is running.

`Janitor.sweep(now)` does one pass (tests pass a future `now`); `start()` runs it every
`interval` seconds until `stop()`. Session use is stamped by `touch(session_id)`.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from backend.context import Backend

log = logging.getLogger(__name__)
SEEN = "session_seen"  # store kind: {"at": epoch seconds of the session's last use}


@dataclass(frozen=True)
class Retention:
    interval: float = 600.0  # seconds between sweeps
    render_keep_after_download: float = 3600.0
    render_ttl: float = 24 * 3600.0
    session_ttl: float = 7 * 24 * 3600.0


@dataclass
class SweepReport:
    renders: int = 0
    sessions: int = 0
    work_dirs: int = 0


class Janitor:
    def __init__(self, backend: Backend, retention: Retention) -> None:
        self.backend = backend
        self.retention = retention
        self._task: asyncio.Task | None = None
        self._last_touch: dict[str, float] = {}

    # -- stamping use --------------------------------------------------------------------------

    def touch(self, session_id: str | None, now: float | None = None) -> None:
        """Remember that a session was used (written at most once a minute per session)."""
        if not session_id or self.backend.store.get("sessions", session_id) is None:
            return
        now = time.time() if now is None else now
        if now - self._last_touch.get(session_id, 0) < 60:
            return
        self._last_touch[session_id] = now
        self.backend.store.put(SEEN, session_id, {"at": now})

    # -- the periodic task ---------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
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
            try:
                self.sweep()  # in the loop, not a thread: the store's cache is not thread-safe to walk
            except Exception:  # a failed sweep must not stop the next one
                log.exception("retention sweep failed")
            await asyncio.sleep(self.retention.interval)

    # -- one pass ------------------------------------------------------------------------------

    def sweep(self, now: float | None = None) -> SweepReport:
        now = time.time() if now is None else now
        report = SweepReport()
        store, renders = self.backend.store, self.backend.renders
        for record in store.all("renders"):
            if record.get("status") != "completed" or record.get("purged"):
                continue
            if _render_expired(record, now, self.retention):
                renders.output_path(record).unlink(missing_ok=True)
                store.put("renders", record["id"], {**record, "purged": True})
                report.renders += 1
        for session in store.all("sessions"):
            sid = session["session_id"]
            seen = store.get(SEEN, sid)
            if seen is None:  # made before retention existed (or never used): its clock starts now
                store.put(SEEN, sid, {"at": now})
                continue
            if now - float(seen["at"]) >= self.retention.session_ttl:
                self._drop_session(session)
                report.sessions += 1
        if not renders.busy():
            for work in renders.out_dir.glob(".work-*"):
                shutil.rmtree(work, ignore_errors=True)
                report.work_dirs += 1
        if report.renders or report.sessions or report.work_dirs:
            log.info("retention: %d render file(s), %d session(s), %d stale work folder(s) removed",
                     report.renders, report.sessions, report.work_dirs)
        return report

    def _drop_session(self, session: dict) -> None:
        store, sid = self.backend.store, session["session_id"]
        for upload in [u for u in store.all("uploads") if u.get("session_id") == sid]:
            Path(upload["path"]).unlink(missing_ok=True)
            store.delete("uploads", upload["id"])
        shutil.rmtree(self.backend.uploads_dir / sid, ignore_errors=True)
        for record in [r for r in store.all("renders") if r.get("session_id") == sid]:
            if record.get("status") in ("pending", "processing"):
                continue  # still being made; its file goes with the render's own TTL
            self.backend.renders.output_path(record).unlink(missing_ok=True)
            store.put("renders", record["id"], {**record, "purged": True})
        store.delete("sessions", sid)
        store.delete(SEEN, sid)
        self._last_touch.pop(sid, None)


def _render_expired(record: dict, now: float, retention: Retention) -> bool:
    downloaded = record.get("downloadedAt")
    if downloaded:
        return now - downloaded / 1000 >= retention.render_keep_after_download
    finished = record.get("completedAt") or record.get("createdAt") or 0
    return now - finished / 1000 >= retention.render_ttl
