"""A demo clip made from ffmpeg's built-in sources, so the first run needs no media of your own.

Three 4-second scenes (a warm gradient, a Mandelbrot zoom, a cool radial gradient) with hard cuts
at 4 s and 8 s, over a quiet room-noise soundtrack: enough for the engine to find cuts to land
beats on and an original sound to put the music under.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from engine.errors import ToolMissingError

SCENE_SECONDS = 4
SIZE = "854x480"


def make_demo_clip(path: Path) -> Path:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise ToolMissingError("ffmpeg is not installed (apt-get install ffmpeg).")
    total = 3 * SCENE_SECONDS
    scenes = [
        f"gradients=s={SIZE}:r=30:speed=0.02:c0=#ff7e5f:c1=#feb47b:d={SCENE_SECONDS}",
        f"mandelbrot=s={SIZE}:r=30,trim=duration={SCENE_SECONDS},setpts=PTS-STARTPTS",
        f"gradients=s={SIZE}:r=30:speed=0.03:c0=#1a2a6c:c1=#2a9d8f:type=radial:d={SCENE_SECONDS}",
    ]
    args = [ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y"]
    for scene in scenes:
        args += ["-f", "lavfi", "-i", scene]
    args += ["-f", "lavfi", "-i", f"anoisesrc=color=brown:amplitude=0.03:d={total}"]
    graph = ";".join(f"[{i}:v]format=yuv420p[s{i}]" for i in range(3)) + ";[s0][s1][s2]concat=n=3:v=1:a=0[v]"
    args += ["-filter_complex", graph, "-map", "[v]", "-map", "3:a",
             "-c:v", "libx264", "-preset", "veryfast", "-crf", "26", "-c:a", "aac", "-ar", "48000",
             "-t", str(total), str(path)]
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(args, check=True, capture_output=True)
    return path
