"""The console's reply port: bot messages on stdout, progress as a live line, videos saved to a folder."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from typing import TextIO

from core.ports import OutgoingVideo, Progress, SurfaceLimits

# A terminal has no upload cap; the engine still keeps files sensible.
CONSOLE_LIMITS = SurfaceLimits(max_upload_bytes=4 * 1024**3, can_edit_messages=True, max_text_length=100_000)


class ConsolePort:
    def __init__(self, out_dir: Path, stream: TextIO | None = None) -> None:
        self.out_dir = Path(out_dir)
        self._stream = stream or sys.stdout
        self._live = self._stream.isatty()
        self._line_shown = False
        self._last_printed: str | None = None
        self.saved: list[Path] = []

    def limits(self) -> SurfaceLimits:
        return CONSOLE_LIMITS

    def delivery_target(self) -> dict:
        return {"out_dir": str(self.out_dir)}

    async def send_text(self, text: str) -> None:
        self._clear_line()
        self._write(f"🤖 {text}\n")

    async def send_video(self, video: OutgoingVideo) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        stem = Path(video.file_name).stem or "video-with-music"
        dest = self.out_dir / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}.mp4"
        counter = 1
        while dest.exists():
            dest = self.out_dir / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}-{counter}.mp4"
            counter += 1
        shutil.copyfile(video.path, dest)
        self.saved.append(dest)
        self._clear_line()
        caption = f"  {video.caption}" if video.caption else ""
        self._write(f"🎬 saved {dest}  ({video.width}x{video.height}, {video.duration:.1f}s){caption}\n")

    async def progress_start(self, progress: Progress) -> None:
        self._show(progress)

    async def progress_update(self, progress: Progress) -> None:
        self._show(progress)

    async def progress_finish(self, final_text: str | None = None) -> None:
        self._clear_line()
        self._last_printed = None
        if final_text:
            self._write(f"🤖 {final_text}\n")

    def _show(self, progress: Progress) -> None:
        text = "⏳ " + progress.stage
        if progress.percent is not None:
            text += f" {progress.percent:.0f}%"
        if progress.detail:
            text += f" — {progress.detail}"
        if self._live:  # one line rewritten in place
            width = shutil.get_terminal_size((100, 20)).columns - 1
            self._write("\r" + text[:width].ljust(width))
            self._line_shown = True
        elif _without_percent(text) != _without_percent(self._last_printed):
            self._write(text + "\n")  # in a pipe, one line per new stage or tool
        self._last_printed = text

    def _clear_line(self) -> None:
        if self._live and self._line_shown:
            width = shutil.get_terminal_size((100, 20)).columns - 1
            self._write("\r" + " " * width + "\r")
            self._line_shown = False

    def _write(self, text: str) -> None:
        self._stream.write(text)
        self._stream.flush()


def _without_percent(text: str | None) -> str | None:
    if text is None:
        return None
    return " ".join(word for word in text.split() if not word.endswith("%"))


class ConsoleSurface:
    name = "console"

    def __init__(self, out_dir: Path, stream: TextIO | None = None) -> None:
        self.out_dir = Path(out_dir)
        self._stream = stream
        self.port = ConsolePort(self.out_dir, stream)

    def reply_port_for(self, chat_id: str, delivery: dict) -> ConsolePort:
        out_dir = Path(delivery.get("out_dir") or self.out_dir)
        return self.port if out_dir == self.out_dir else ConsolePort(out_dir, self._stream)
