"""Read what a video file is (container, size, rotation, codecs) and refuse what we can't use.

Probing opens the file with PyAV, reads the stream headers, decodes the first picture (so a
file whose video can't be decoded is refused here, not halfway through a render) and checks
that the end of the file is really there. It never decodes the whole video.

Every refusal is an InvalidMediaError whose text is one plain sentence for the user: no paths,
no library messages.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import av

from engine.errors import InvalidMediaError
from engine.models import MediaInfo

MAX_DURATION = 600.0  # seconds; longer clips are refused
MIN_SIDE = 16  # pixels
MAX_SIDE = 8192  # pixels
_FIRST_FRAME_PACKETS = 600  # give up looking for a first picture after this many packets
_STILL_IMAGE_FORMATS = ("image2", "_pipe", "gif_pipe", "webp_pipe")
_NOT_VIDEO_FORMATS = {"tty", "lavfi", "ffmetadata", "srt", "webvtt", "ass", "txt"}


def probe(path: Path | str) -> MediaInfo:
    """Describe the video at `path`, or raise InvalidMediaError with a friendly sentence."""
    path = Path(path)
    size = _file_size(path)
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except av.error.FFmpegError:
        raise InvalidMediaError(_unopenable(path)) from None
    except OSError:
        raise InvalidMediaError("We couldn't read that file.") from None
    try:
        return _describe(container, path, size)
    finally:
        container.close()


# What a file that FFmpeg can't open is, by its first bytes, so the refusal names the problem.
_MAGIC = [
    (b"PK\x03\x04", "This is a ZIP archive, not a video. Please send the video itself."),
    (b"%PDF", "This is a PDF document, not a video."),
    (b"Rar!", "This is a RAR archive, not a video. Please send the video itself."),
    (b"7z\xbc\xaf", "This is a 7-Zip archive, not a video. Please send the video itself."),
]


def _unopenable(path: Path) -> str:
    """One plain sentence for a file FFmpeg can't open at all."""
    try:
        with path.open("rb") as f:
            head = f.read(4096)
    except OSError:
        return "We couldn't read that file."
    for magic, sentence in _MAGIC:
        if head.startswith(magic):
            return sentence
    if head[4:8] == b"ftyp":
        # An MP4/MOV whose index ("moov") never arrived: typically an upload cut short.
        return "The video file is incomplete (its index is missing; the upload may have been cut short)."
    if b"\x00" not in head:
        try:
            head.decode("utf-8")
            return "This is a text file, not a video."
        except UnicodeDecodeError:
            pass
    return "This file isn't a video we can open (it may be another kind of file, or damaged)."


def _file_size(path: Path) -> int:
    try:
        if not path.is_file():
            raise InvalidMediaError("We couldn't find that file, or it isn't a regular file.")
        size = path.stat().st_size
        if not os.access(path, os.R_OK):
            raise InvalidMediaError("We aren't allowed to read that file.")
    except OSError:
        raise InvalidMediaError("We couldn't read that file.") from None
    if size == 0:
        raise InvalidMediaError("The file is empty.")
    return size


def _describe(container: av.container.InputContainer, path: Path, size: int) -> MediaInfo:
    fmt = container.format.name
    if fmt in _NOT_VIDEO_FORMATS:
        raise InvalidMediaError("This file isn't a video (it looks like text or another kind of file).")
    if any(part in fmt for part in _STILL_IMAGE_FORMATS) or fmt.endswith("_pipe"):
        raise InvalidMediaError("This looks like a picture, not a video. Please send a video clip.")

    video = _video_stream(container)
    audio = container.streams.audio[0] if container.streams.audio else None
    codec = video.codec_context
    if codec is None or not codec.name:
        raise InvalidMediaError("The video uses a format we can't decode.")
    try:
        # thread_type must be set before the first decode; one picture needs no threads.
        video.thread_type = "NONE"
    except Exception:  # noqa: BLE001 - not every codec lets us choose; the default is fine
        pass

    frame = _first_frame(container, video)
    width = codec.width or frame.width
    height = codec.height or frame.height
    if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
        raise InvalidMediaError(
            f"The video is {width}x{height} pixels; we handle sizes from {MIN_SIDE} to {MAX_SIDE} "
            "pixels per side."
        )

    duration = _duration(container, video)
    if duration is None or duration <= 0.0:
        raise InvalidMediaError("The video has no length (zero seconds).")
    if duration > MAX_DURATION + 0.5:
        raise InvalidMediaError(
            f"The video is {_clock(duration)} long; the limit is {int(MAX_DURATION // 60)} minutes."
        )

    _check_complete(container, video, duration, size)

    audio_codec = audio.codec_context.name if audio is not None and audio.codec_context else None
    return MediaInfo(
        path=path,
        container=fmt,
        duration=round(duration, 6),
        width=int(width),
        height=int(height),
        rotation=_rotation(frame, video),
        fps=_fps(video, duration),
        video_codec=codec.name,
        video_bitrate=_video_bitrate(container, video, audio, duration, size),
        has_audio=audio_codec is not None,
        audio_codec=audio_codec,
        audio_sample_rate=(audio.codec_context.sample_rate or None) if audio_codec else None,
        audio_channels=_channels(audio) if audio_codec else None,
        size_bytes=size,
    )


def _video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream:
    for stream in container.streams.video:
        # Cover art inside a music file shows up as a one-picture "video" stream.
        if stream.disposition & av.stream.Disposition.attached_pic:
            continue
        return stream
    if container.streams.audio:
        raise InvalidMediaError("This file only has sound; please send a video.")
    raise InvalidMediaError("This file has no video in it.")


def _first_frame(container: av.container.InputContainer, video) -> av.VideoFrame:
    """Decode the first picture; raise when the video can't be decoded at all."""
    try:
        for count, packet in enumerate(container.demux(video)):
            for frame in packet.decode():
                return frame
            if count >= _FIRST_FRAME_PACKETS:
                break
        for frame in video.codec_context.decode(None):  # drain a decoder that holds frames back
            return frame
    except av.error.FFmpegError:
        raise InvalidMediaError("The video is damaged: its pictures can't be decoded.") from None
    except (ValueError, NotImplementedError):
        raise InvalidMediaError("The video uses a format we can't decode.") from None
    raise InvalidMediaError("The video has no pictures we can decode.")


def _duration(container: av.container.InputContainer, video) -> float | None:
    candidates = []
    if video.duration and video.time_base:
        candidates.append(float(video.duration * video.time_base))
    if container.duration:
        candidates.append(container.duration / av.time_base)
    sane = [d for d in candidates if math.isfinite(d) and 0.0 < d < 24 * 3600]
    if sane:
        # Prefer the video stream's own length: the container's may include a longer audio tail.
        return sane[0]
    return _scan_duration(container, video)


def _scan_duration(container: av.container.InputContainer, video) -> float | None:
    """Some files (e.g. live-recorded WebM) state no length: find the last picture's time."""
    container.seek(0)
    start = end = None
    frame_dur = 0.0
    for packet in container.demux(video):
        if packet.pts is None or packet.time_base is None:
            continue
        t = float(packet.pts * packet.time_base)
        start = t if start is None else min(start, t)
        end = t if end is None else max(end, t)
        if packet.duration:
            frame_dur = float(packet.duration * packet.time_base)
        if end - start > MAX_DURATION * 2:  # already far too long; no need to read it all
            break
    if start is None or end is None:
        return None
    return end - start + frame_dur


def _check_complete(container: av.container.InputContainer, video, duration: float, size: int) -> None:
    """Refuse a file cut short (e.g. an interrupted upload) whose header promises more."""
    entries = getattr(video, "index_entries", None)
    if entries is not None:
        try:
            n = len(entries)
            if n:
                last = entries[n - 1]
                if last.pos + last.size > size:
                    raise InvalidMediaError("The video file is incomplete (it was cut short).")
        except (AttributeError, TypeError, IndexError):
            pass
    if duration < 1.0:
        return
    # Jump near the end and read on: a truncated file runs out of packets well before its
    # stated length. Only packets are read here, nothing is decoded.
    start = float(video.start_time * video.time_base) if video.start_time is not None else 0.0
    wanted = start + duration - max(1.0, 0.05 * duration)
    try:
        target = int((wanted - 1.0) / video.time_base)
        container.seek(max(target, 0), stream=video, backward=True, any_frame=False)
        for packet in container.demux():
            if packet.pts is None or packet.time_base is None or not packet.size:
                continue
            end = float((packet.pts + (packet.duration or 0)) * packet.time_base)
            if end >= wanted:
                return
    except av.error.FFmpegError:
        pass
    raise InvalidMediaError("The video file is incomplete (it was cut short).")


def _rotation(frame: av.VideoFrame, video) -> int:
    """Degrees clockwise the player turns the picture, normalised to 0/90/180/270.

    PyAV reports the display matrix angle counterclockwise (as FFmpeg's
    av_display_rotation_get), so clockwise is its negative. Old files carry a "rotate" tag,
    which is already clockwise.
    """
    ccw = getattr(frame, "rotation", 0) or 0
    if ccw:
        return _snap(-float(ccw))
    tag = (video.metadata or {}).get("rotate")
    if tag:
        try:
            return _snap(float(tag))
        except ValueError:
            return 0
    return 0


def _snap(degrees: float) -> int:
    return int(round(degrees / 90.0)) % 4 * 90


def _fps(video, duration: float) -> float:
    for rate in (video.average_rate, video.guessed_rate, video.base_rate):
        if rate:
            value = float(rate)
            if 1.0 <= value <= 240.0:
                return round(value, 3)
    if video.frames and duration > 0:
        return round(video.frames / duration, 3)
    return 30.0


def _channels(audio) -> int | None:
    ctx = audio.codec_context
    layout = getattr(ctx, "layout", None)
    if layout is not None and getattr(layout, "nb_channels", 0):
        return int(layout.nb_channels)
    return int(getattr(ctx, "channels", 0) or 0) or None


def _video_bitrate(container, video, audio, duration: float, size: int) -> int | None:
    if video.bit_rate:
        return int(video.bit_rate)
    if video.codec_context.bit_rate:
        return int(video.codec_context.bit_rate)
    # Not stated (common in Matroska/WebM): estimate from the file size minus the sound.
    audio_rate = (audio.bit_rate or audio.codec_context.bit_rate or 128_000) if audio is not None else 0
    estimate = int(size * 8 / duration) - int(audio_rate)
    return estimate if estimate > 0 else None


def _clock(seconds: float) -> str:
    total = int(round(seconds))
    return f"{total // 60}:{total % 60:02d}"
