"""Independent checks of media files the tests produce: ffprobe and ffmpeg's own EBU R128 meter,
so the engine is never checked by its own measuring code."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path


def ffprobe(path: Path) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path)],
        check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(out)


def stream(info: dict, kind: str) -> dict | None:
    return next((s for s in info["streams"] if s["codec_type"] == kind), None)


def duration_of(info: dict, kind: str) -> float:
    return float(stream(info, kind)["duration"])


def loudness(path: Path) -> tuple[float, float]:
    """(integrated LUFS, true peak dBTP) of the first audio stream, by ffmpeg's ebur128 filter."""
    err = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostats", "-i", str(path), "-map", "0:a:0",
         "-filter:a", "ebur128=peak=true", "-f", "null", "-"],
        check=True, capture_output=True, text=True,
    ).stderr
    summary = err[err.rfind("Summary:"):]
    integrated = float(re.search(r"I:\s+(-?[\d.]+|-inf) LUFS", summary).group(1))
    peak = float(re.search(r"True peak:\s+Peak:\s+(-?[\d.]+|-inf) dBFS", summary).group(1))
    return integrated, peak


def video_packets_md5(path: Path) -> str:
    """A fingerprint of the video stream's packets: equal when the stream was copied untouched."""
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:v:0", "-c", "copy", "-f", "md5", "-"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    return out


def tags(info: dict) -> dict:
    return {k.lower(): v for k, v in info["format"].get("tags", {}).items()}


def moov_before_mdat(path: Path) -> bool:
    """True when the MP4 index comes first (+faststart): playback can begin before the download ends."""
    data = path.read_bytes()[: 4 * 1024 * 1024]
    offset, order = 0, []
    while offset + 8 <= len(data):
        size = int.from_bytes(data[offset:offset + 4], "big")
        kind = data[offset + 4:offset + 8].decode("latin-1")
        order.append(kind)
        if kind in ("moov", "mdat") or size < 8:
            break
        offset += size
    return "moov" in order and ("mdat" not in order or order.index("moov") < order.index("mdat"))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
