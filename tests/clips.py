"""Make real media files for tests with ffmpeg's lavfi sources (nothing is committed).

Every clip is small and short so the suite stays quick on two cores.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

# container extension -> (video codec args, audio codec args)
CODECS = {
    ".mp4": (["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"], ["-c:a", "aac", "-b:a", "96k"]),
    ".mov": (["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"], ["-c:a", "aac", "-b:a", "96k"]),
    ".mkv": (["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"], ["-c:a", "aac", "-b:a", "96k"]),
    ".webm": (["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k"], ["-c:a", "libopus", "-b:a", "64k"]),
    ".avi": (["-c:v", "mpeg4", "-q:v", "5"], ["-c:a", "mp3", "-b:a", "96k"]),
}

# A palette for scene segments: each cut changes colour and brightness sharply.
_SEGMENT_COLOURS = ["0x203060", "0xE0A040", "0x10A050", "0xC02020", "0xF0F0F0", "0x101010", "0x6040C0"]


def make_clip(
    path: Path,
    duration: float = 2.0,
    size: tuple[int, int] = (320, 240),
    fps: int = 25,
    audio: str | None = "tone",
    cuts: list[float] | None = None,
    video_codec: list[str] | None = None,
    rotation: int | None = None,
    extra_args: list[str] | None = None,
) -> Path:
    """Write a clip to `path` (its suffix picks the container).

    audio: None (no audio stream), "tone" (a steady sine), "speech" (a voice-like, syllable-gated
    buzz), or "silence" (an audio stream of digital silence).
    cuts: times in seconds where the picture changes abruptly (hard scene cuts); without cuts
    the picture is a moving test pattern.
    rotation: degrees clockwise a player turns the picture (mp4/mov only), like MediaInfo.rotation.
    """
    path = Path(path)
    width, height = size
    vcodec, acodec = CODECS[path.suffix.lower()]
    if video_codec is not None:
        vcodec = video_codec
    args = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y"]
    inputs, filters = _video_inputs(duration, width, height, fps, cuts)
    args += inputs
    audio_index = len([a for a in inputs if a == "-i"])
    if audio is not None:
        args += ["-f", "lavfi", "-i", _audio_source(audio, duration)]
    graph = filters
    args += ["-filter_complex", graph, "-map", "[v]"]
    if audio is not None:
        args += ["-map", f"{audio_index}:a"]
        args += acodec + ["-ar", "48000"]
    args += vcodec + ["-r", str(fps), "-t", f"{duration:.3f}"]
    if extra_args:
        args += extra_args
    args.append(str(path))
    subprocess.run(args, check=True, capture_output=True)
    if rotation is not None:
        _set_rotation(path, rotation)
    return path


def _video_inputs(duration: float, width: int, height: int, fps: int, cuts: list[float] | None):
    if not cuts:
        src = f"testsrc2=size={width}x{height}:rate={fps}:duration={duration:.3f}"
        return ["-f", "lavfi", "-i", src], "[0:v]format=yuv420p[v]"
    bounds = [0.0] + sorted(cuts) + [duration]
    inputs, labels = [], []
    for i, (start, end) in enumerate(zip(bounds, bounds[1:])):
        colour = _SEGMENT_COLOURS[i % len(_SEGMENT_COLOURS)]
        # A slowly moving pattern over a flat colour, so each segment has some motion of its own.
        src = f"color=c={colour}:size={width}x{height}:rate={fps}:duration={end - start:.3f}"
        inputs += ["-f", "lavfi", "-i", src]
        labels.append(f"[{i}:v]")
    graph = "".join(labels) + f"concat=n={len(labels)}:v=1:a=0,format=yuv420p[v]"
    return inputs, graph


def _audio_source(kind: str, duration: float) -> str:
    d = f"{duration:.3f}"
    if kind == "tone":
        return f"sine=frequency=440:sample_rate=48000:duration={d}"
    if kind == "silence":
        return f"anullsrc=r=48000:cl=stereo,atrim=duration={d}"
    if kind == "speech":
        # A buzzy voice-band tone gated on and off about 4 times a second, like syllables.
        expr = "0.5*sin(2*PI*180*t)*(0.5+0.5*sin(2*PI*900*t))*gt(sin(2*PI*4*t),0)"
        return f"aevalsrc='{expr}':s=48000:d={d}"
    raise ValueError(f"unknown audio kind {kind!r}")


def _set_rotation(path: Path, rotation: int) -> None:
    """Rewrite the file with a display rotation, copying the streams.

    Debian's ffmpeg 5.1 turns the "rotate" tag into a display matrix the other way round, so
    a clockwise turn of N degrees is written as 360 - N.
    """
    tmp = path.with_name(path.stem + ".rot" + path.suffix)
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(path), "-c", "copy",
         "-metadata:s:v:0", f"rotate={(360 - rotation) % 360}", str(tmp)],
        check=True, capture_output=True,
    )
    tmp.replace(path)
