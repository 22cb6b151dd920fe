"""Clips in and videos out: checks before fetching, a probe after, fitting before sending.

The core touches media only through the engine's probe, fit and thumbnail, run in worker
threads so one chat's big file never stalls the event loop the other chats share.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from core.events import MediaFetchError, MediaItem
from core.i18n import human_duration, human_size, kind_name, say
from core.ports import OutgoingVideo, SurfaceLimits
from engine.errors import EngineError, FitError, InvalidMediaError
from engine.fit import fit
from engine.models import MediaInfo
from engine.probe import probe
from engine.thumbnail import make_thumbnail


class Refusal(Exception):
    """The clip cannot be used; str(refusal) is the message for the chat, in the user's language."""


@dataclass(frozen=True)
class ClipLimits:
    max_bytes: int | None = None  # operator cap on clip size
    max_seconds: float | None = 600.0  # the engine accepts up to 10 minutes
    min_seconds: float = 0.5  # the editor can't trim or score less (a one-picture clip fails at render)


def check_before_fetch(item: MediaItem, limits: ClipLimits, lang: str) -> None:
    """Refuse what we can tell is wrong from the platform's claims, before downloading anything."""
    if not item.looks_like_video:
        raise Refusal(say("not_video", lang, kind=kind_name(item.kind, lang)))
    size = item.size_bytes
    if size is not None and item.max_fetch_bytes is not None and size > item.max_fetch_bytes:
        raise Refusal(say("too_big_to_fetch", lang, size=human_size(size), limit=human_size(item.max_fetch_bytes)))
    if size is not None and limits.max_bytes is not None and size > limits.max_bytes:
        raise Refusal(say("too_big_for_bot", lang, size=human_size(size), limit=human_size(limits.max_bytes)))
    if item.duration is not None and limits.max_seconds is not None and item.duration > limits.max_seconds:
        raise Refusal(say("too_long_for_bot", lang, duration=human_duration(item.duration),
                          limit=human_duration(limits.max_seconds)))


async def fetch_clip(item: MediaItem, dest_dir: Path, limits: ClipLimits, lang: str) -> tuple[Path, MediaInfo]:
    """Download one clip and make sure it is a video we can work with."""
    check_before_fetch(item, limits, lang)
    dest_dir.mkdir(parents=True, exist_ok=True)
    try:
        path = await item.fetch(dest_dir)
    except MediaFetchError as error:
        raise Refusal(say("fetch_failed", lang, reason=str(error))) from None
    size = path.stat().st_size
    if limits.max_bytes is not None and size > limits.max_bytes:
        path.unlink(missing_ok=True)
        raise Refusal(say("too_big_for_bot", lang, size=human_size(size), limit=human_size(limits.max_bytes)))
    try:
        info = await asyncio.to_thread(probe, path)
    except InvalidMediaError as error:
        path.unlink(missing_ok=True)
        raise Refusal(say("bad_video", lang, reason=_sentence(str(error)))) from None
    if limits.max_seconds is not None and info.duration > limits.max_seconds:
        path.unlink(missing_ok=True)
        raise Refusal(say("too_long_for_bot", lang, duration=human_duration(info.duration),
                          limit=human_duration(limits.max_seconds)))
    if info.duration < limits.min_seconds:
        path.unlink(missing_ok=True)
        raise Refusal(say("too_short_for_bot", lang, duration=f"{info.duration:.2f} s",
                          limit=f"{limits.min_seconds:g} s"))
    return path, info


def keep_copy(path: Path, keep_dir: Path) -> Path:
    """Keep a clip for a day, so a lost backend session can be rebuilt without the user."""
    keep_dir.mkdir(parents=True, exist_ok=True)
    kept = keep_dir / f"{uuid.uuid4().hex}{path.suffix.lower() or '.mp4'}"
    shutil.copyfile(path, kept)
    return kept


@dataclass(frozen=True)
class Prepared:
    video: OutgoingVideo | None  # None when it cannot fit this chat
    size_bytes: int


async def prepare_for_chat(path: Path, work_dir: Path, limits: SurfaceLimits, caption: str | None) -> Prepared:
    """Fit the rendered MP4 under the chat's upload cap and describe it for a proper video message."""
    fitted = work_dir / "fitted.mp4"
    try:
        result = await asyncio.to_thread(
            fit, path, fitted, max_bytes=limits.max_upload_bytes,
            max_width=limits.max_video_width, max_height=limits.max_video_height,
        )
    except FitError:
        return Prepared(None, path.stat().st_size)
    info = await asyncio.to_thread(probe, result.output)
    thumb: Path | None = work_dir / "thumb.jpg"
    try:
        await asyncio.to_thread(make_thumbnail, result.output, thumb, at=min(1.0, info.duration / 2))
    except EngineError:
        thumb = None  # a video without a preview image is still a video
    video = OutgoingVideo(
        path=result.output,
        width=info.display_width,
        height=info.display_height,
        duration=info.duration,
        thumbnail=thumb,
        caption=caption,
    )
    return Prepared(video, result.size_bytes)


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?", "。")) else text + "."
