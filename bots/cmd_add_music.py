"""`aiwm add-music IN [-o OUT]`: the engine on one file, from the terminal.

Errors end with one plain line on stderr and a non-zero exit, never a traceback, and never a
half-written output file (the engine only moves a finished video into place).
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from pathlib import Path

from engine.errors import EngineError
from engine.models import EditSpec, Title

log = logging.getLogger(__name__)

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib)?\s*$", re.IGNORECASE)
_UNITS = {None: 1, "b": 1, "kb": 1000, "kib": 1024, "mb": 1000**2, "mib": 1024**2, "gb": 1000**3, "gib": 1024**3}


def parse_size(text: str) -> int:
    """'50MB' -> 50_000_000, '10MiB' -> 10_485_760, '2000000' -> 2_000_000."""
    match = _SIZE.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 50MB or 10MiB)")
    number, unit = match.groups()
    return int(float(number) * _UNITS[unit.lower() if unit else None])


def parse_level(text: str) -> float:
    """'20%' or '20' or '0.2' -> 0.2."""
    try:
        value = float(text.rstrip("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a level: {text!r} (try 20%)") from None
    if text.endswith("%") or value > 1:
        value /= 100
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("the music level goes from 0% to 100%")
    return value


def parse_title(text: str) -> Title:
    """'Urban Dreams' or 'Urban Dreams@0+3' (text @ start seconds + length seconds)."""
    match = re.match(r"^(.*?)(?:@(\d+(?:\.\d+)?)(?:\+(\d+(?:\.\d+)?))?)?$", text)
    words, start, length = match.groups()
    if not words.strip():
        raise argparse.ArgumentTypeError("the title needs some words")
    return Title(text=words.strip(), start=float(start or 0), duration=float(length or 3))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from engine.presets import PRESETS
    from engine.styles import STYLES

    parser.add_argument("input", type=Path, help="the video (MP4, MOV, MKV, WebM, AVI)")
    parser.add_argument("-o", "--output", type=Path, help="where to write the MP4 (default: IN_music.mp4)")
    parser.add_argument("--prompt", help='what you want, in words: "lo-fi, calm", "epic 120 bpm", "轻松的钢琴"')
    parser.add_argument("--style", choices=sorted(STYLES), help="pick the style instead of matching the mood")
    parser.add_argument("--seed", type=int, default=0, help="another number gives another take (default 0)")
    parser.add_argument("--for", dest="preset", choices=sorted(PRESETS), help="make it ready for a platform")
    parser.add_argument("--framing", choices=["letterbox", "crop"], default="letterbox",
                        help="how to change the aspect ratio when the platform wants 9:16")
    parser.add_argument("--max-bytes", type=parse_size, help="largest output file, e.g. 50MB or 10MiB")
    parser.add_argument("--music-volume", type=parse_level, help="music level, e.g. 20%% (default: automatic)")
    parser.add_argument("--no-music", action="store_true", help="only process the video, no music")
    parser.add_argument("--title", type=parse_title, action="append", default=[],
                        help="burn a title: 'Text' or 'Text@START+SECONDS'")
    parser.add_argument("--trim", type=float, nargs=2, metavar=("START", "END"), help="keep only START..END seconds")
    parser.add_argument("--soundfont", type=Path, help="a General MIDI .sf2 (default: the small Debian one)")
    parser.add_argument("--json", action="store_true", help="print a machine-readable summary")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def default_output(source: Path) -> Path:
    return source.with_name(f"{source.stem}_music.mp4")


def run(args: argparse.Namespace) -> int:
    from engine.pipeline import make

    output = args.output or default_output(args.input)
    if output.resolve() == args.input.resolve():
        print("error: the output would overwrite the input; choose another name with -o", file=sys.stderr)
        return 2
    spec = EditSpec(
        source=args.input,
        prompt=args.prompt,
        style=args.style,
        seed=args.seed,
        music=not args.no_music,
        music_volume=args.music_volume,
        trim_start=args.trim[0] if args.trim else 0.0,
        trim_end=args.trim[1] if args.trim else None,
        titles=list(args.title),
        preset=args.preset,
        framing=args.framing,
        max_bytes=args.max_bytes,
        soundfont=args.soundfont,
    )
    show_bar = not args.quiet and not args.json and sys.stderr.isatty()
    try:
        with _progress_bar(show_bar) as on_progress:
            summary = make(spec, output, progress=on_progress)
    except EngineError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except Exception:  # a bug of ours: one line for the user, the details in the debug log
        log.debug("add-music failed", exc_info=True)
        print("error: something unexpected went wrong while making the video", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(summary.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(_describe(summary))
    return 0


def _describe(summary) -> str:
    music = "no music" if summary.style == "none" else (
        f"{summary.style} in {summary.key} {summary.mode}, {summary.tempo:g} BPM"
        f" ({summary.cuts_on_beat}/{summary.cuts_total} scene cuts on a beat)"
    )
    return (f"{summary.output}  {summary.width}x{summary.height}, {summary.duration:.1f}s, "
            f"{summary.size_bytes / 1e6:.1f} MB  {music}, music at {summary.music_volume:.0%}, "
            f"{summary.loudness_lufs:.1f} LUFS")


class _progress_bar:
    """A rich progress bar on stderr, or nothing when stderr is not a terminal."""

    def __init__(self, enabled: bool) -> None:
        self._enabled = enabled
        self._progress = None
        self._task = None

    def __enter__(self):
        if not self._enabled:
            return None
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(TextColumn("{task.description:<11}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                                  TimeElapsedColumn(), console=Console(stderr=True), transient=True)
        self._progress.__enter__()
        self._task = self._progress.add_task("analyse", total=1.0)
        return self._update

    def _update(self, stage: str, fraction: float | None) -> None:
        if fraction is None:
            self._progress.update(self._task, description=stage)
        else:
            self._progress.update(self._task, description=stage, completed=fraction)

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)
