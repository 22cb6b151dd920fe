"""A small JPEG preview of a video, for chat surfaces that show one before playback."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from engine.errors import EngineError, ToolMissingError


def make_thumbnail(video: Path, dest: Path, *, at: float = 0.5, max_side: int = 320) -> Path:
    """Write a JPEG of the frame near `at` seconds, at most `max_side` px on its long side.

    ffmpeg applies the display rotation itself, so the preview is upright like the video.
    """
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise ToolMissingError("ffmpeg is not installed (apt-get install ffmpeg).")
    scale = f"scale='if(gt(iw,ih),{max_side},-2)':'if(gt(iw,ih),-2,{max_side})'"
    for seek in (at, 0.0):
        result = subprocess.run(
            [ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-ss", f"{seek:.3f}", "-i", str(video),
             "-frames:v", "1", "-vf", scale, "-q:v", "4", str(dest)],
            capture_output=True,
        )
        if result.returncode == 0 and dest.exists() and dest.stat().st_size > 0:
            return dest
    raise EngineError("Could not make a preview image of the video.")
