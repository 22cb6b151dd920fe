"""Make an MP4 fit a platform: under a byte cap, within a resolution, in an aspect ratio.

A file that already fits is copied as it is (no generation loss, no time spent). Otherwise the
video is re-encoded to H.264 at the largest bitrate the cap allows, scaled down when that
bitrate would be too thin for the picture size, and checked: a result over the cap is retried
lower, and if nothing sensible fits, FitError says so. The result is never over the cap.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import av

from engine.errors import EngineError, FitError
from engine.ffmpeg import run_ffmpeg
from engine.models import MediaInfo
from engine.mux import mp4_copy_tag
from engine.probe import probe

# Container overhead (moov index, headers) for short clips, plus a share for longer ones.
_OVERHEAD_BYTES = 64 * 1024
_OVERHEAD_SHARE = 0.02
# Below this many bits per pixel per frame H.264 turns to mush: show fewer, sharper pixels.
_MIN_BITS_PER_PIXEL = 0.06
_MIN_SHORT_SIDE = 240
_MIN_VIDEO_BITRATE = 120_000
_SMALL_AUDIO_BITRATE = 64_000
_ATTEMPTS = 3


@dataclass(frozen=True)
class FitResult:
    output: Path
    size_bytes: int
    width: int  # display size of the output
    height: int
    reencoded: bool


def fit(input: Path, output: Path, *, max_bytes: int | None, max_width: int | None = None,
        max_height: int | None = None, aspect: tuple[int, int] | None = None, framing: str = "letterbox",
        progress: Callable[[float], None] | None = None) -> FitResult:
    input, output = Path(input), Path(output)
    info = probe(input)
    canvas = _canvas(info.display_width, info.display_height, aspect, framing)
    target = _within_caps(canvas, max_width, max_height)
    fits_size = max_bytes is None or info.size_bytes <= max_bytes
    if target == (info.display_width, info.display_height) and canvas == target and fits_size \
            and mp4_copy_tag(info.video_codec) is not None:
        kept = _keep_picture(input, output, info, max_bytes)
        if kept is not None:
            return kept

    audio_bitrate = _audio_bitrate(input) if info.has_audio else 0
    attempts = _plans(info, target, max_bytes, audio_bitrate)
    for attempt, (size, video_bitrate, audio_rate) in enumerate(attempts):
        _encode(input, output, info, size, aspect is not None and canvas != (info.display_width, info.display_height),
                framing, video_bitrate, audio_rate, progress)
        written = output.stat().st_size
        if max_bytes is None or written <= max_bytes:
            return FitResult(output, written, size[0], size[1], reencoded=True)
        output.unlink(missing_ok=True)
    raise FitError(_too_big_message(max_bytes))


def _keep_picture(input: Path, output: Path, info: MediaInfo, max_bytes: int | None) -> FitResult | None:
    """The picture already fits: copy the file when it is a streamable MP4, else remux it into one
    (video copied, +faststart so playback starts before the download ends). None if that fails."""
    width, height = info.display_width, info.display_height
    if "mp4" in info.container and _index_first(input):
        if input != output:
            shutil.copyfile(input, output)
        return FitResult(output, output.stat().st_size, width, height, reencoded=False)
    # Copy the sound too; if MP4 cannot hold it (PCM, Vorbis...), re-encode only the sound.
    for audio in (["-c:a", "copy"], ["-c:a", "aac", "-b:a", "192k"]):
        args = ["-y", "-i", str(input), "-map", "0:v:0", "-map", "0:a:0?", "-c:v", "copy",
                "-tag:v", mp4_copy_tag(info.video_codec) or "avc1", *audio,
                "-map_metadata", "0", "-movflags", "+faststart", "-f", "mp4", str(output)]
        try:
            run_ffmpeg(args, what="prepare the video")
            break
        except EngineError:
            output.unlink(missing_ok=True)
    else:
        return None
    size = output.stat().st_size
    if max_bytes is not None and size > max_bytes:
        output.unlink(missing_ok=True)
        return None
    return FitResult(output, size, width, height, reencoded=False)


def _index_first(path: Path) -> bool:
    """True when the MP4 index (moov) comes before the media data: it can play while downloading."""
    try:
        with open(path, "rb") as f:
            while header := f.read(8):
                if len(header) < 8:
                    return False
                size, name = int.from_bytes(header[:4], "big"), header[4:]
                if name == b"moov":
                    return True
                if name == b"mdat":
                    return False
                if size == 1:
                    size = int.from_bytes(f.read(8), "big") - 8
                elif size < 8:
                    return False
                f.seek(size - 8, 1)
    except OSError:
        return False
    return False


def _plans(info: MediaInfo, target: tuple[int, int], max_bytes: int | None, audio_bitrate: int):
    """(size, video bitrate or None for constant quality, audio bitrate or None to copy) per attempt."""
    if max_bytes is None:
        return [(target, None, None)]
    duration = max(info.duration, 0.1)
    plans = []
    share = 1.0
    for _ in range(_ATTEMPTS):
        audio_rate = None
        budget_bits = (max_bytes * (1 - _OVERHEAD_SHARE) - _OVERHEAD_BYTES) * 8 * share
        video_bits = budget_bits - audio_bitrate * duration
        if video_bits / duration < _MIN_VIDEO_BITRATE and info.has_audio:
            audio_rate = _SMALL_AUDIO_BITRATE  # a smaller sound track leaves room for the picture
            video_bits = budget_bits - audio_rate * duration
        video_bitrate = int(video_bits / duration)
        if video_bitrate < _MIN_VIDEO_BITRATE:
            break
        plans.append((_size_for_bitrate(target, video_bitrate, info.fps), video_bitrate, audio_rate))
        share *= 0.85
    if not plans:
        raise FitError(_too_big_message(max_bytes))
    return plans


def _encode(input: Path, output: Path, info: MediaInfo, size: tuple[int, int], reframe: bool, framing: str,
            video_bitrate: int | None, audio_bitrate: int | None, progress) -> None:
    width, height = size
    if reframe and framing == "crop":
        picture = (f"scale={width}:{height}:force_original_aspect_ratio=increase,"
                   f"crop={width}:{height}")
    else:  # letterbox (or just a resize): the whole picture, padded to the canvas
        picture = (f"scale={width}:{height}:force_original_aspect_ratio=decrease,"
                   f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2:black")
    args = ["-y", "-i", str(input), "-map", "0:v:0", "-map", "0:a:0?", "-vf", picture + ",setsar=1,format=yuv420p",
            "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high"]
    if video_bitrate is None:
        args += ["-crf", "20"]
    else:
        args += ["-b:v", str(video_bitrate), "-maxrate", str(int(video_bitrate * 1.2)),
                 "-bufsize", str(int(video_bitrate * 1.5))]
    args += ["-c:a", "copy"] if audio_bitrate is None else ["-c:a", "aac", "-b:a", str(audio_bitrate), "-ar", "48000"]
    args += ["-map_metadata", "0", "-movflags", "+faststart", str(output)]
    run_ffmpeg(args, duration=info.duration, progress=progress, what="fit the video to the size limit")


def _canvas(width: int, height: int, aspect: tuple[int, int] | None, framing: str) -> tuple[int, int]:
    """The output shape before size caps: the picture itself, or reframed to the aspect ratio."""
    if aspect is None:
        return _even(width), _even(height)
    ratio = aspect[0] / aspect[1]
    if abs(width / height - ratio) < 0.01:
        return _even(width), _even(height)
    if framing == "crop":
        if width / height > ratio:
            return _even(height * ratio), _even(height)
        return _even(width), _even(width / ratio)
    if width / height > ratio:  # letterbox: bars above and below
        return _even(width), _even(width / ratio)
    return _even(height * ratio), _even(height)


def _within_caps(size: tuple[int, int], max_width: int | None, max_height: int | None) -> tuple[int, int]:
    """Scale down (never up) so the short side and long side fit the caps, in either orientation."""
    width, height = size
    caps = [c for c in (max_width, max_height) if c]
    if not caps:
        return size
    short_cap, long_cap = min(caps), max(caps)
    scale = min(1.0, short_cap / min(width, height), long_cap / max(width, height))
    return _even(width * scale), _even(height * scale)


def _size_for_bitrate(size: tuple[int, int], bitrate: int, fps: float) -> tuple[int, int]:
    width, height = size
    bits_per_pixel = bitrate / (width * height * max(fps, 1.0))
    if bits_per_pixel >= _MIN_BITS_PER_PIXEL:
        return size
    scale = math.sqrt(bits_per_pixel / _MIN_BITS_PER_PIXEL)
    scale = max(scale, _MIN_SHORT_SIDE / min(width, height)) if min(width, height) > _MIN_SHORT_SIDE else 1.0
    return _even(width * scale), _even(height * scale)


def _audio_bitrate(path: Path) -> int:
    try:
        with av.open(str(path)) as container:
            stream = container.streams.audio[0]
            return int(stream.bit_rate or stream.codec_context.bit_rate or 192_000)
    except (av.error.FFmpegError, IndexError):
        return 192_000


def _even(value: float) -> int:
    return max(2, int(round(value / 2)) * 2)


def _too_big_message(max_bytes: int | None) -> str:
    limit = f"{max_bytes / 1_000_000:.1f} MB" if max_bytes else "the limit"
    return f"The video is too long to fit under {limit} at a watchable quality."


__all__ = ["fit", "FitResult", "FitError", "EngineError"]
