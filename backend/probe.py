"""Decide what an uploaded file really is by opening it, not by trusting its name."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av

VIDEO_EXTS = {".mp4", ".mov", ".avi", ".webm", ".mkv", ".m4v"}
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".gif", ".webp"}
AUDIO_EXTS = {".mp3", ".wav", ".m4a", ".aac"}
_IMAGE_CODECS = {"mjpeg", "png", "gif", "webp", "jpegls", "bmp", "tiff"}
_IMAGE_FORMATS = ("image2", "_pipe", "gif", "webp")


@dataclass(frozen=True)
class Probed:
    file_type: str  # "video", "image" or "audio"
    duration: float | None
    width: int | None
    height: int | None
    fps: float | None
    has_audio: bool


def kind_of_name(filename: str) -> str | None:
    ext = Path(filename).suffix.lower()
    if ext in VIDEO_EXTS:
        return "video"
    if ext in IMAGE_EXTS:
        return "image"
    if ext in AUDIO_EXTS:
        return "audio"
    return None


def probe(path: Path) -> Probed | None:
    """What the file holds, or None when it is not media we can use."""
    try:
        with av.open(str(path)) as container:
            fmt = container.format.name or ""
            video = [s for s in container.streams.video if not _is_cover_art(s)]
            audio = list(container.streams.audio)
            duration = container.duration / 1_000_000 if container.duration else None
            if video:
                stream = video[0]
                ctx = stream.codec_context
                is_image = stream.codec_context.name in _IMAGE_CODECS and (
                    any(tag in fmt for tag in _IMAGE_FORMATS) or (stream.frames or 0) <= 1)
                fps = float(stream.average_rate) if stream.average_rate else None
                if is_image:
                    return Probed("image", None, ctx.width, ctx.height, None, False)
                if not duration and stream.duration and stream.time_base:
                    duration = float(stream.duration * stream.time_base)
                if not duration or not ctx.width:
                    return None
                return Probed("video", round(duration, 3), ctx.width, ctx.height,
                              round(fps, 3) if fps else None, bool(audio))
            if audio and duration:
                return Probed("audio", round(duration, 3), None, None, None, True)
    except (av.FFmpegError, OSError, ValueError):
        return None
    return None


def _is_cover_art(stream) -> bool:
    return bool(stream.disposition & av.stream.Disposition.attached_pic) if hasattr(av.stream, "Disposition") else False
