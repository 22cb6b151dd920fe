"""The video side of the final mux: copy or re-encode, trims, burned-in titles, MP4 flags.

Copying the video stream keeps the picture bit for bit (and its rotation) and costs almost
nothing; a re-encode (libx264) happens only when MP4 cannot hold the codec, a trim starts
between keyframes, or titles must be drawn into the frames.
"""

from __future__ import annotations

import logging
import subprocess
import tempfile
from pathlib import Path
from typing import BinaryIO, Sequence

import av

from engine.errors import EngineError, ToolMissingError
from engine.ffmpeg import ffmpeg_path
from engine.models import MediaInfo, Title

log = logging.getLogger(__name__)

# Codecs ffmpeg's MP4 muxer takes as they are, with the sample-entry tag players expect
# (Apple plays HEVC only as hvc1).
MP4_COPY_TAGS = {"h264": "avc1", "hevc": "hvc1", "av1": "av01", "vp9": "vp09"}

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
TITLE_FADE = 0.3  # seconds a title takes to appear and to go


def mp4_copy_tag(codec: str) -> str | None:
    """The MP4 tag to copy `codec` with, or None when it must be re-encoded."""
    return MP4_COPY_TAGS.get((codec or "").lower())


def can_copy_video(video: Path, info: MediaInfo, start: float, titles: Sequence[Title]) -> bool:
    """Copy the video stream when MP4 can hold it and no frame has to change."""
    if titles or mp4_copy_tag(info.video_codec) is None:
        return False
    if start <= 0:
        return True
    # Stream copy can only start on a keyframe; anywhere else needs a re-encode to be exact.
    return keyframe_near(video, start, tolerance=0.5 / max(info.fps or 0.0, 1.0))


def keyframe_near(video: Path, time: float, *, tolerance: float) -> bool:
    """True when a keyframe sits within `tolerance` seconds of `time` (reads packets, decodes nothing)."""
    try:
        with av.open(str(video)) as container:
            stream = container.streams.video[0]
            offset = (container.start_time or 0) / av.time_base
            target = time + offset
            container.seek(int(max(0.0, target - tolerance) / stream.time_base), stream=stream, backward=True)
            for packet in container.demux(stream):
                if packet.pts is None or not packet.is_keyframe:
                    continue
                at = float(packet.pts * stream.time_base)
                if abs(at - target) <= tolerance:
                    return True
                if at > target + tolerance:
                    return False
    except (av.FFmpegError, IndexError, OSError) as error:
        log.debug("keyframe scan failed: %s", error)
    return False


def video_stream_end(video: Path, info: MediaInfo) -> float:
    """Where the video stream ends on the output timeline (seconds).

    The container duration can be longer when the audio runs past the last frame; the new
    sound track must match the picture, not the old sound.
    """
    try:
        with av.open(str(video)) as container:
            stream = container.streams.video[0]
            if stream.duration is None:
                return info.duration
            offset = (container.start_time or 0) / av.time_base
            end = float((stream.start_time or 0) * stream.time_base + stream.duration * stream.time_base) - offset
    except (av.FFmpegError, IndexError, OSError):
        return info.duration
    return end if 0 < end <= info.duration + 0.05 else info.duration


def mux_args(video: Path, raw_audio: Path, output: Path, *, info: MediaInfo, start: float, length: float,
             trim_end: float | None, copy_video: bool, titles: Sequence[Title],
             metadata: dict[str, str], work: Path, encoded_audio: Path | None = None) -> list[str]:
    """ffmpeg arguments: the video (copied or re-encoded) + a raw f32le 48 kHz stereo mix -> MP4.

    With `encoded_audio` (ADTS from encode_aac_on_two_cores, made from that mix) the sound is
    copied from it instead of encoded in this pass.
    """
    args = ["-y"]
    if start > 0:
        args += ["-ss", f"{start:.6f}"]
    args += ["-i", str(video)]
    if encoded_audio is not None:
        # ADTS carries no encoder delay: starting it one AAC frame early lets the MP4 muxer write
        # the same edit list (skip the 1024 priming samples) an encode in this pass would.
        args += ["-itsoffset", f"{-AAC_FRAME / AUDIO_RATE:.9f}", "-f", "aac", "-i", str(encoded_audio)]
    else:
        args += ["-f", "f32le", "-ar", str(AUDIO_RATE), "-ac", "2", "-i", str(raw_audio)]
    args += ["-map", "0:v:0", "-map", "1:a:0"]
    if copy_video:
        args += ["-c:v", "copy", "-tag:v", mp4_copy_tag(info.video_codec) or "avc1"]
    else:
        # ffmpeg turns the picture upright while decoding, so the text lands the right way up.
        chain = ["scale=trunc(iw/2)*2:trunc(ih/2)*2"]
        chain += drawtext_filters(titles, work, width=info.display_width, height=info.display_height)
        args += ["-vf", ",".join(chain), "-c:v", "libx264", "-preset", "veryfast", "-crf", "20",
                 "-pix_fmt", "yuv420p"]
    if start > 0 or trim_end is not None:
        args += ["-t", f"{length:.6f}"]
    args += ["-c:a", "copy"] if encoded_audio is not None else AAC_ARGS
    # The source's own tags (GPS location, device, owner...) must not travel into a video meant
    # to be posted publicly; only our provenance tags are written.
    args += ["-map_metadata", "-1"]
    for key, value in metadata.items():
        args += ["-metadata", f"{key}={value}"]
    args += ["-movflags", "+faststart", "-f", "mp4", str(output)]
    return args


# --- the sound: AAC on two cores -----------------------------------------------------------

AUDIO_RATE = 48000
AAC_FRAME = 1024  # samples per AAC frame
# The default (twoloop) AAC coder: "-aac_coder fast" measured up to 2x slower on mixed music.
AAC_ARGS = ["-c:a", "aac", "-b:a", "192k", "-ar", str(AUDIO_RATE), "-ac", "2"]
# The second half starts this many frames early and drops them: by then the encoder's
# psychoacoustic state and bit reservoir are warm.
AAC_WARMUP_FRAMES = 48


def encode_aac_on_two_cores(raw_audio: Path, frames: int, dest: Path, *, work: Path) -> Path:
    """Encode a raw f32le 48 kHz stereo mix to AAC (ADTS at `dest`) as two halves at once.

    ffmpeg's AAC encoder is single-threaded and causal, so the first half's frames are exactly
    those of a whole-file encode. The second half starts AAC_WARMUP_FRAMES frames early and
    those are dropped. The split falls on an AAC frame boundary, so the halves' frames tile the
    timeline as one encode's would and the decoder's overlap-add joins them without a seam.
    """
    split = (frames // 2) // AAC_FRAME * AAC_FRAME
    warmup = min(split, AAC_WARMUP_FRAMES * AAC_FRAME)
    halves = [(f"end_sample={split}", work / "first.aac"),
              (f"start_sample={split - warmup}", work / "second.aac")]
    processes: list[tuple[subprocess.Popen, object]] = []
    try:
        for trim, out in halves:
            stderr = tempfile.TemporaryFile()
            processes.append((subprocess.Popen(
                [ffmpeg_path(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
                 "-f", "f32le", "-ar", str(AUDIO_RATE), "-ac", "2", "-i", str(raw_audio),
                 "-af", f"atrim={trim}", *AAC_ARGS, "-f", "adts", str(out)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr), stderr))
        failed = [process.wait() != 0 for process, _ in processes]
        if any(failed):
            for (process, stderr), bad in zip(processes, failed):
                if bad:
                    stderr.seek(0)  # type: ignore[attr-defined]
                    log.debug("AAC half failed: %s", stderr.read()[-2000:].decode("utf-8", "replace"))  # type: ignore[attr-defined]
            raise EngineError("Could not mix the music into the video.")
    except OSError as error:
        raise ToolMissingError("ffmpeg could not be started.") from error
    finally:
        for process, stderr in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
            stderr.close()  # type: ignore[attr-defined]
    with open(dest, "wb") as out, open(halves[0][1], "rb") as first, open(halves[1][1], "rb") as second:
        _copy_adts_frames(first, out, skip=0, keep=split // AAC_FRAME)
        _copy_adts_frames(second, out, skip=warmup // AAC_FRAME, keep=None)
    return dest


def _copy_adts_frames(source: BinaryIO, out: BinaryIO, *, skip: int, keep: int | None) -> None:
    """Copy ADTS frames skip.. (at most `keep` of them) from `source` to `out`."""
    index = 0
    while keep is None or index < skip + keep:
        header = source.read(7)
        if len(header) < 7:
            break
        if header[0] != 0xFF or header[1] & 0xF0 != 0xF0:
            raise EngineError("Could not mix the music into the video.")
        size = ((header[3] & 0x03) << 11) | (header[4] << 3) | (header[5] >> 5)
        body = source.read(size - 7)
        if index >= skip:
            out.write(header + body)
        index += 1


# --- titles --------------------------------------------------------------------------------


def drawtext_filters(titles: Sequence[Title], work: Path, *, width: int, height: int) -> list[str]:
    """One drawtext filter per title: centred white text with a soft shadow, faded in and out.

    The text goes through a file with expansion off, so quotes, colons, percent signs,
    backslashes and any script reach the picture as typed, with nothing to escape.
    """
    filters = []
    for index, title in enumerate(titles):
        text = title.text.strip()
        if not text or title.duration <= 0:
            continue
        text_file = work / f"title{index}.txt"
        text_file.write_text(text, encoding="utf-8")
        size = _font_size(text, width, height)
        shadow = max(2, size // 18)
        start, end = title.start, title.start + title.duration
        fade = min(TITLE_FADE, title.duration / 3)
        alpha = f"if(lt(t,{start + fade:.3f}),(t-{start:.3f})/{fade:.3f},if(gt(t,{end - fade:.3f}),({end:.3f}-t)/{fade:.3f},1))"
        options = {
            "fontfile": str(_font_for(text)),
            "textfile": str(text_file),
            "expansion": "none",
            "fontsize": str(size),
            "fontcolor": "white",
            "shadowcolor": "black@0.6",
            "shadowx": str(shadow),
            "shadowy": str(shadow),
            "x": "(w-text_w)/2",
            "y": "(h-text_h)/2",
            "alpha": alpha,
            "enable": f"between(t,{start:.3f},{end:.3f})",
        }
        filters.append("drawtext=" + ":".join(f"{k}={_escape(v)}" for k, v in options.items()))
    return filters


def _font_size(text: str, width: int, height: int) -> int:
    """About a twelfth of the picture's height, smaller when the longest line would not fit."""
    longest = max((sum(1.0 if _is_wide(c) else 0.6 for c in line) for line in text.splitlines()), default=1.0)
    size = min(height / 12, 0.9 * width / max(longest, 1.0))
    return max(12, int(size))


def _is_wide(char: str) -> bool:
    return ord(char) >= 0x2E80  # CJK and friends take a full em


def _font_for(text: str) -> Path:
    """DejaVu Sans, or an installed CJK font when the text needs glyphs DejaVu lacks."""
    if any(_is_wide(c) for c in text):
        for lang in ("zh", "ja", "ko"):
            try:
                found = subprocess.run(["fc-list", f":lang={lang}", "file"], capture_output=True,
                                       text=True, timeout=10).stdout
            except (OSError, subprocess.SubprocessError):
                break
            files = sorted(line.strip().rstrip(":") for line in found.splitlines() if line.strip())
            if files:
                return Path(files[0])
    return FONT


def _escape(value: str) -> str:
    """Escape an option value for a filter, then for the filter graph (ffmpeg's two levels)."""
    for char in ("\\", "'", ":"):
        value = value.replace(char, "\\" + char)
    for char in ("\\", "'", "[", "]", ",", ";"):
        value = value.replace(char, "\\" + char)
    return value
