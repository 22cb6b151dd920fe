"""`aiwm demo`: make a demo clip, add music to it, and say where both are."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from bots.cmd_add_music import _describe, _progress_bar
from bots.democlip import make_demo_clip
from engine.errors import EngineError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("out/demo"), help="folder for the demo files (default out/demo)")
    parser.add_argument("--prompt", help="words for the music, e.g. 'lo-fi' (default: match the mood)")
    parser.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    from engine.pipeline import add_music

    clip = args.out / "demo_clip.mp4"
    result = args.out / "demo_clip_music.mp4"
    try:
        print(f"making a 12-second demo clip: {clip}")
        make_demo_clip(clip)
        print("adding music that fits it...")
        with _progress_bar(sys.stderr.isatty()) as on_progress:
            summary = add_music(clip, result, prompt=args.prompt, seed=args.seed, progress=on_progress)
    except (EngineError, subprocess.CalledProcessError) as error:
        print(f"error: {error if isinstance(error, EngineError) else 'ffmpeg could not make the demo clip'}",
              file=sys.stderr)
        return 1
    print(_describe(summary))
    print(f"done: play {result} (try another take with: aiwm add-music {clip} --seed 7 --prompt lo-fi)")
    return 0
