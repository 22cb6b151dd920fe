"""Exports: turn a submitted draft into an MP4 with the engine, in worker threads.

Lifecycle: pending -> processing (progress 0..100) -> completed (outputUrl) | failed (error).
Credits for the export are frozen at submit and spent on success or given back on failure.
A render that was pending or processing when the server stopped is marked failed on the next
start ("the server restarted") and its credits are given back: the client then retries once
with a new id, as nemo-api.md recommends. Resuming half-done engine work is not attempted.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

from backend import accounts, engine_bridge
from backend.config import BackendConfig
from backend.draft import MUSIC, TITLE, VIDEO
from backend.faults import Faults
from backend.store import Store

log = logging.getLogger(__name__)
RESTARTED = "The server restarted during this export; please export again."


class RenderCancelled(Exception):
    pass


class RenderInputError(Exception):
    """The draft cannot be rendered; str() is a friendly line."""


def export_cost(draft: dict, config: BackendConfig) -> int:
    seconds = (draft.get("d") or 0) / 1000
    return max(1, math.ceil(seconds / config.export_seconds_per_credit))


def _ms(value) -> float:
    return float(value or 0) / 1000.0


class RenderManager:
    def __init__(self, store: Store, config: BackendConfig, faults: Faults) -> None:
        self.store, self.config, self.faults = store, config, faults
        self.out_dir = config.data_dir / "renders"
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._pool = ThreadPoolExecutor(max_workers=max(1, config.render_workers), thread_name_prefix="render")
        self._cancel: dict[str, threading.Event] = {}
        self._tasks: dict[str, asyncio.Task] = {}

    def recover(self) -> None:
        for record in self.store.all("renders"):
            if record["status"] in ("pending", "processing"):
                self._finish(record, "failed", error=RESTARTED)

    def create(self, render_id: str, session: dict, user: dict, draft: dict, output: dict, cost: int) -> dict:
        record = {"id": render_id, "session_id": session["session_id"], "user_id": user["user_id"],
                  "status": "pending", "progress": 5, "createdAt": int(time.time() * 1000), "completedAt": None,
                  "error": None, "cost": cost, "draft": draft, "output": output or {},
                  "key": secrets.token_urlsafe(12), "summary": None, "stage": None}
        self.store.put("renders", render_id, record)
        accounts.freeze(self.store, user["user_id"], cost)
        self._cancel[render_id] = threading.Event()
        self._tasks[render_id] = asyncio.get_running_loop().create_task(self._run(render_id))
        return record

    def cancel(self, render_id: str) -> dict | None:
        record = self.store.get("renders", render_id)
        if record is None:
            return None
        if record["status"] in ("pending", "processing"):
            flag = self._cancel.get(render_id)
            if flag:
                flag.set()
            task = self._tasks.get(render_id)
            # Before the engine starts the task itself can stop; once it runs, the flag stops it.
            if task and record["status"] == "pending":
                task.cancel()
            self._finish(record, "failed", error="The export was cancelled.", cancelled=True)
        return record

    def busy(self) -> bool:
        """True while any render is queued or running in this process."""
        return bool(self._tasks)

    def output_path(self, record: dict) -> Path:
        return self.out_dir / f"{record['id']}.mp4"

    async def close(self) -> None:
        for flag in self._cancel.values():
            flag.set()
        for task in list(self._tasks.values()):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._pool.shutdown(wait=True, cancel_futures=True)

    async def _run(self, render_id: str) -> None:
        record = self.store.get("renders", render_id)
        faults = self.faults.get(record["session_id"])
        loop = asyncio.get_running_loop()
        cancel = self._cancel[render_id]
        try:
            self._update(render_id, status="processing", progress=0, stage="queued")
            delay = float(faults.get("render_delay") or 0)
            if delay > 0:
                await asyncio.sleep(delay)
            fail = faults.get("render_fail")
            if fail:
                raise engine_bridge.EngineFailure(fail if isinstance(fail, str) else "The render engine failed.")

            def progress(stage: str, fraction: float | None) -> None:
                if cancel.is_set():
                    raise RenderCancelled()
                if fraction is not None:
                    value = min(99, max(1, int(fraction * 100)))
                    loop.call_soon_threadsafe(self._update, render_id, None, value, stage)

            stall = float(faults.get("engine_stall") or 0)
            summary = await loop.run_in_executor(self._pool, self._produce, record, progress, cancel, stall)
            if cancel.is_set():
                return
            record = self.store.get("renders", render_id)
            record["summary"] = summary.to_dict()
            self._finish(record, "completed")
            self._note_key(record, summary)
        except (RenderCancelled, asyncio.CancelledError):
            pass
        except (engine_bridge.EngineFailure, RenderInputError) as exc:
            self._finish(self.store.get("renders", render_id), "failed", error=str(exc))
        except Exception:  # a bug must still end the render visibly, not leave it spinning
            log.exception("render %s crashed", render_id)
            self._finish(self.store.get("renders", render_id), "failed", error="The export failed unexpectedly.")
        finally:
            self._tasks.pop(render_id, None)
            self._cancel.pop(render_id, None)

    def _update(self, render_id: str, status: str | None = None, progress: int | None = None,
                stage: str | None = None) -> None:
        record = self.store.get("renders", render_id)
        if record is None or record["status"] in ("completed", "failed"):
            return
        if status:
            record["status"] = status
        if progress is not None:
            # A status change resets the bar; otherwise it only moves forward.
            record["progress"] = progress if status else max(record["progress"], progress)
        if stage:
            record["stage"] = stage
        self.store.put("renders", render_id, record)

    def _finish(self, record: dict, status: str, error: str | None = None, cancelled: bool = False) -> None:
        if record is None or record["status"] in ("completed", "failed"):
            return
        record.update(status=status, completedAt=int(time.time() * 1000), error=error)
        if status == "completed":
            record["progress"] = 100
        if cancelled:
            record["cancelled"] = True
        self.store.put("renders", record["id"], record)
        accounts.settle(self.store, record["user_id"], record["cost"], spent=status == "completed")

    def _note_key(self, record: dict, summary) -> None:
        """Show the key and mode the engine chose on the session's music, for the same take."""
        session = self.store.get("sessions", record["session_id"])
        music = (session or {}).get("edit", {}).get("music")
        rendered = next((sg.get("m") or {} for t in record["draft"].get("t") or [] if t.get("tt") == MUSIC
                         for sg in t.get("sg") or []), None)
        if music and rendered and rendered.get("seed") == music.get("seed"):
            music.update(key=summary.key, mode=summary.mode)
            self.store.put("sessions", session["session_id"], session)

    # -- worker thread --------------------------------------------------------------------------

    def _produce(self, record: dict, progress, cancel: threading.Event, stall: float = 0.0):
        final = self.output_path(record)
        with tempfile.TemporaryDirectory(dir=self.out_dir, prefix=".work-") as work:
            if stall > 0:  # test fault: the engine "works" with its folder made, so a kill leaves it
                (Path(work) / "partial.mp4").write_bytes(b"\0" * 1024)
                if cancel.wait(stall):
                    raise RenderCancelled()
            spec = self._spec(record, Path(work))
            tmp_out = Path(work) / "out.mp4"
            summary = engine_bridge.render(spec, tmp_out, progress)
            if cancel.is_set():
                raise RenderCancelled()
            shutil.move(str(tmp_out), final)
        return _with_output(summary, final)

    def _spec(self, record: dict, work: Path) -> engine_bridge.EditSpec:
        draft = record["draft"] or {}
        tracks = draft.get("t") or []
        segments = sorted((sg for t in tracks if t.get("tt") == VIDEO for sg in t.get("sg") or []),
                          key=lambda sg: sg.get("s", 0))
        if not segments:
            raise RenderInputError("The draft has no video to export yet; upload a video first.")
        parts = [(self._resolve(record, sg), _ms((sg.get("m") or {}).get("in")), _ms(sg.get("d"))) for sg in segments]
        if len(parts) == 1:
            source, trim_start, length = parts[0]
            trim_end = trim_start + length if length > 0 else None
        else:
            source, trim_start, trim_end = _concat(parts, work), 0.0, None
        music = next((sg.get("m") or {} for t in tracks if t.get("tt") == MUSIC for sg in t.get("sg") or []), None)
        titles = [engine_bridge.Title(str((sg.get("m") or {}).get("text", "")), _ms(sg.get("s")), _ms(sg.get("d")))
                  for t in tracks if t.get("tt") == TITLE for sg in t.get("sg") or []
                  if (sg.get("m") or {}).get("text")]
        session = self.store.get("sessions", record["session_id"]) or {}
        saved_music = (session.get("edit") or {}).get("music") or {}
        output = record.get("output") or {}
        spec = engine_bridge.EditSpec(
            source=source, trim_start=trim_start, trim_end=trim_end, titles=titles,
            music=music is not None, soundfont=self.config.soundfont,
            preset=output.get("preset"), max_bytes=output.get("max_bytes"),
        )
        if music is not None:
            spec.style = None if music.get("auto") else music.get("style")
            spec.seed = int(music.get("seed") or 0)
            spec.tempo = music.get("tempo")
            spec.music_volume = music.get("volume")
            spec.prompt = music.get("prompt") or saved_music.get("prompt") or music.get("mood")
        height = _resolution(output)
        if height:
            spec.max_height, spec.max_width = height, None
        return spec

    def _resolve(self, record: dict, segment: dict) -> Path:
        meta = segment.get("m") or {}
        path = urlsplit(str(meta.get("cdn_url") or "")).path
        for upload in self.store.all("uploads"):
            if upload["session_id"] == record["session_id"] and (upload["cdn_path"] == path or (
                    not path and upload["filename"] == meta.get("name"))):
                return Path(upload["path"])
        raise RenderInputError("A clip in the draft is not one of this session's uploads.")


def _resolution(output: dict) -> int | None:
    value = output.get("resolution") or output.get("quality")
    if isinstance(value, str) and value.lower().rstrip("p").isdigit():
        return int(value.lower().rstrip("p"))
    return None


def _with_output(summary, final: Path):
    from dataclasses import replace

    return replace(summary, output=final)


def _concat(parts: list[tuple[Path, float, float]], work: Path) -> Path:
    """Join several trimmed clips into one intermediate file (same size, fps, stereo audio)."""
    from backend.probe import probe

    first = probe(parts[0][0])
    width, height = (first.width or 1280) // 2 * 2, (first.height or 720) // 2 * 2
    args, graph, labels = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y"], [], []
    for i, (path, start, length) in enumerate(parts):
        args += ["-ss", f"{start:.3f}", "-t", f"{length:.3f}", "-i", str(path)]
    n = len(parts)
    for i, (path, start, length) in enumerate(parts):
        info = probe(path)
        graph.append(f"[{i}:v]scale={width}:{height}:force_original_aspect_ratio=decrease,"
                     f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2,setsar=1,fps=30,format=yuv420p[v{i}]")
        if info and info.has_audio:
            graph.append(f"[{i}:a]aresample=48000,aformat=channel_layouts=stereo[a{i}]")
        else:
            graph.append(f"anullsrc=r=48000:cl=stereo,atrim=duration={length:.3f}[a{i}]")
        labels.append(f"[v{i}][a{i}]")
    graph.append("".join(labels) + f"concat=n={n}:v=1:a=1[v][a]")
    out = work / "joined.mp4"
    args += ["-filter_complex", ";".join(graph), "-map", "[v]", "-map", "[a]", "-c:v", "libx264",
             "-preset", "veryfast", "-crf", "18", "-c:a", "aac", "-b:a", "192k", str(out)]
    result = subprocess.run(args, capture_output=True)
    if result.returncode != 0:
        raise RenderInputError("The clips in the draft could not be joined.")
    return out
