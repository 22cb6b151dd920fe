"""A small EventHandler that stands in for the core at adapter level: it records every event and
answers through the real reply port the way the core does (refuse non-video and too-big clips
before fetching, show progress, send the fetched clip back as a proper video)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from pathlib import Path

from core.events import InboundEvent, MediaFetchError
from core.i18n import human_size, kind_name, lang_of, say
from core.ports import OutgoingVideo, Progress


def probe(path: Path) -> dict | None:
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path)],
        capture_output=True, text=True,
    )
    if result.returncode != 0:
        return None
    info = json.loads(result.stdout)
    return info if any(s["codec_type"] == "video" for s in info.get("streams", [])) else None


class RecordingHandler:
    def __init__(self, work_dir: Path) -> None:
        self.work_dir = work_dir
        self.events: list[InboundEvent] = []
        self.fetched: list[Path] = []
        self.arrived = asyncio.Condition()
        self.hold: asyncio.Event | None = None  # set by a test to keep a job running

    async def wait_events(self, count: int, timeout: float = 20.0) -> list[InboundEvent]:
        async def waiter():
            async with self.arrived:
                await self.arrived.wait_for(lambda: len(self.events) >= count)
        await asyncio.wait_for(waiter(), timeout)
        return self.events

    async def handle(self, event: InboundEvent) -> None:
        async with self.arrived:
            self.events.append(event)
            self.arrived.notify_all()
        lang = lang_of(event.language, event.text)
        port = event.reply
        if event.command in ("start", "help"):
            await port.send_text(say("welcome" if event.command == "start" else "help", lang))
            return
        if not event.media:
            await port.send_text(say("need_clip", lang))
            return
        for item in event.media:
            if not item.looks_like_video:
                await port.send_text(say("not_video", lang, kind=kind_name(item.kind, lang)))
                return
            if item.size_bytes and item.max_fetch_bytes and item.size_bytes > item.max_fetch_bytes:
                await port.send_text(say("too_big_to_fetch", lang, size=human_size(item.size_bytes),
                                         limit=human_size(item.max_fetch_bytes)))
                return
        await port.progress_start(Progress(say("stage_download", lang)))
        job_dir = self.work_dir / uuid.uuid4().hex
        paths = []
        for item in event.media:
            try:
                paths.append(await item.fetch(job_dir))
            except MediaFetchError as error:
                await port.progress_finish(say("fetch_failed", lang, reason=str(error)))
                return
        self.fetched.extend(paths)
        await port.progress_update(Progress(say("stage_render", lang), 50.0))
        if self.hold is not None:
            await self.hold.wait()
        info = probe(paths[0])
        if info is None:
            await port.progress_finish(say("bad_video", lang, reason="it has no readable video stream."))
            return
        await port.progress_update(Progress(say("stage_send", lang), 100.0))
        video = next(s for s in info["streams"] if s["codec_type"] == "video")
        thumb = job_dir / "thumb.jpg"
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(paths[0]), "-frames:v", "1",
                        "-vf", "scale=160:-2", str(thumb)], check=True)
        await port.send_video(OutgoingVideo(
            path=paths[0], width=int(video["width"]), height=int(video["height"]),
            duration=float(info["format"]["duration"]), thumbnail=thumb,
            caption=say("done_caption_plain", lang),
        ))
        await port.progress_finish(None)
