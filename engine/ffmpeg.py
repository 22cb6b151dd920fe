"""Running the ffmpeg command line: one place for flags, progress and friendly failures."""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from typing import Callable

from engine.errors import EngineError, ToolMissingError

log = logging.getLogger(__name__)

# Enough of ffmpeg's complaint to diagnose a failure from the debug log, not a wall of text.
_STDERR_TAIL_CHARS = 2000


def ffmpeg_path() -> str:
    """The ffmpeg executable, or a ToolMissingError that says how to install it."""
    path = shutil.which("ffmpeg")
    if path is None:
        raise ToolMissingError("ffmpeg is not installed (apt-get install ffmpeg).")
    return path


def run_ffmpeg(
    args: list[str],
    *,
    duration: float | None = None,
    progress: Callable[[float], None] | None = None,
    what: str = "process the video",
) -> None:
    """Run `ffmpeg <args>` quietly; report 0..1 progress when `duration` and `progress` are given.

    On failure raise EngineError("Could not <what>.") and keep ffmpeg's stderr for the debug log
    only: it names our temporary paths and means nothing to a chat user.
    """
    command = [ffmpeg_path(), "-nostdin", "-hide_banner", "-loglevel", "error"]
    track = progress is not None and duration is not None and duration > 0
    if track:
        command += ["-progress", "pipe:1", "-nostats"]
    command += list(args)
    # stderr goes to a file so a chatty ffmpeg can never fill a pipe and stall while we read stdout.
    with tempfile.TemporaryFile() as stderr:
        try:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if track else subprocess.DEVNULL,
                stderr=stderr,
            )
        except OSError as error:
            raise ToolMissingError("ffmpeg could not be started.") from error
        try:
            if track:
                assert process.stdout is not None
                _follow_progress(process.stdout, duration, progress)  # type: ignore[arg-type]
            code = process.wait()
        except BaseException:
            # An interrupt or a failing progress callback must not leave ffmpeg running.
            process.kill()
            process.wait()
            raise
        if code != 0:
            stderr.seek(0)
            tail = stderr.read().decode("utf-8", "replace")[-_STDERR_TAIL_CHARS:]
            log.debug("ffmpeg failed (exit %s) trying to %s: %s", code, what, tail)
            raise EngineError(f"Could not {what}.")
    if track:
        progress(1.0)  # type: ignore[misc]


def _follow_progress(stream, duration: float, progress: Callable[[float], None]) -> None:
    """Turn ffmpeg's `-progress` key=value lines into fractions of the output duration."""
    last = -1.0
    for raw in stream:
        line = raw.decode("ascii", "replace").strip()
        key, _, value = line.partition("=")
        if key not in ("out_time_us", "out_time_ms"):  # both are microseconds, despite the name
            continue
        try:
            seconds = int(value) / 1_000_000
        except ValueError:
            continue  # "N/A" before the first frame
        fraction = min(1.0, max(0.0, seconds / duration))
        if fraction - last >= 0.01:
            last = fraction
            progress(fraction)
