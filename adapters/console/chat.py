"""The console chat: each typed (or piped) line is one message to the bot.

A line that is the path of a file (or `/upload PATH`) attaches that file; words after the path
are its caption. `/demo` attaches a generated demo clip. In a pipe, lines are handled in order,
the work they started is awaited, and the saved videos are listed before exiting.

A stop signal (SIGTERM/SIGINT, see bots/cmd_chat.py) works as in `aiwm run`: no more input is
read, running work gets the stop grace to finish, then the chat exits 0 (work cut off stays in
the store and the journal, and the next start resumes it or says what to send again).
"""

from __future__ import annotations

import asyncio
import getpass
import mimetypes
import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import AsyncIterable, Awaitable, Callable, Iterable, TextIO

from adapters.console.port import ConsolePort, ConsoleSurface
from core.events import EventHandler, InboundEvent, MediaItem

VIDEO_SUFFIXES = {".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".3gp", ".mts", ".ts"}
QUIT_WORDS = {"/quit", "/exit", "quit", "exit", ":q"}
CHAT_ID = "local"

Drain = Callable[..., Awaitable[bool]]  # Core.drain(timeout=None) -> True if all work finished


def media_from_path(path: Path) -> MediaItem:
    """A local file as a chat attachment, fetched (copied) only when the core asks for it."""
    suffix = path.suffix.lower()
    mime = mimetypes.guess_type(path.name)[0]
    if suffix in VIDEO_SUFFIXES or (mime or "").startswith("video/"):
        kind = "video"
    elif (mime or "").startswith("image/"):
        kind = "photo"
    elif (mime or "").startswith("audio/"):
        kind = "audio"
    else:
        kind = "document"

    async def fetch(dest_dir: Path) -> Path:
        # Keep the clip's own name: the editor shows it in the timeline.
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in path.name) or f"upload{suffix}"
        dest = Path(dest_dir) / safe
        await asyncio.to_thread(shutil.copyfile, path, dest)
        return dest

    return MediaItem(kind=kind, fetch=fetch, file_name=path.name, mime_type=mime, size_bytes=path.stat().st_size)


def parse_line(line: str) -> tuple[str, list[Path]]:
    """Split a typed line into (text, attached files)."""
    stripped = line.strip()
    if stripped.startswith("/upload"):
        rest = stripped[len("/upload"):].strip()
        path, text = _leading_path(rest)
        return text, [path] if path else []
    path, text = _leading_path(stripped)
    return (text, [path]) if path else (stripped, [])


MAX_PATH_CHARS = 4096  # PATH_MAX on Linux: a longer run of words cannot name a file


def _leading_path(text: str) -> tuple[Path | None, str]:
    """The longest leading run of words that names an existing file, and the words after it.

    Only runs up to MAX_PATH_CHARS are tried, so a huge pasted line costs one pass, not a square.
    """
    try:
        words = shlex.split(text)
    except ValueError:
        words = text.split()
    ends, length = [], -1
    for end, word in enumerate(words, start=1):
        length += len(word) + 1
        if length > MAX_PATH_CHARS:
            break
        ends.append(end)
    for end in reversed(ends):
        candidate = Path(os.path.expanduser(" ".join(words[:end])))
        if _is_file(candidate):
            return candidate, " ".join(words[end:])
    return None, text


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):  # e.g. "File name too long", a NUL byte, an unencodable name
        return False


def _clean(line: str) -> str:
    """Drop NUL bytes and replace lone surrogates, which no file name, log or terminal can carry."""
    return line.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


_NOT_A_FILE = {
    "missing": {"en": "I can't find a file at {path}. Check the path and send it again.",
                "zh": "找不到文件：{path}。请检查路径后再发一次。"},
    "folder": {"en": "{path} is a folder. Send the path of a video file inside it.",
               "zh": "{path} 是一个文件夹。请发送其中某个视频文件的路径。"},
    "special": {"en": "{path} isn't a regular file. Send the path of a video file.",
                "zh": "{path} 不是普通文件。请发送一个视频文件的路径。"},
}


def not_a_file_line(problem: str, path: str, language: str = "en") -> str:
    """The console's answer to a path that names no file it can attach ("missing", "folder", "special")."""
    texts = _NOT_A_FILE[problem]
    return (texts.get(language) or texts["en"]).format(path=path)


def _looks_like_path(word: str) -> bool:
    """A word meant as a file: "./clip.mp4", "~/x", "/home/a/b.mov", "clip.mp4" (not "/status")."""
    if word.startswith(("./", "../", "~/")) or (word.startswith("/") and "/" in word[1:]):
        return True
    return Path(word).suffix.lower() in VIDEO_SUFFIXES


def _path_problem(text: str, upload: bool) -> tuple[str, str] | None:
    """Why the path a line starts with cannot be attached: (problem, shown path), or None."""
    try:
        words = shlex.split(text)
    except ValueError:
        words = text.split()
    if not words or not (upload or _looks_like_path(words[0])):
        return None
    candidate = words[0] if not upload else " ".join(words)
    shown = candidate if len(candidate) <= 200 else candidate[:200] + "…"
    path = Path(os.path.expanduser(candidate))
    try:
        if path.is_dir():
            return "folder", shown
        if path.exists():
            return "special", shown
    except (OSError, ValueError):
        pass
    return "missing", shown


class ConsoleChat:
    def __init__(self, handler: EventHandler, surface: ConsoleSurface, *, language: str | None = None,
                 stream: TextIO | None = None) -> None:
        self._handler = handler
        self._surface = surface
        self._language = language or _language_from_env()
        self._stream = stream or sys.stdout
        self._user = _user_name()

    @property
    def port(self) -> ConsolePort:
        return self._surface.port

    async def say(self, line: str) -> None:
        """Send one line to the bot as the console user."""
        if line.strip() == "/demo":
            line = str(await asyncio.to_thread(_demo_clip, self._surface.out_dir))
        line = _clean(line)
        text, paths = parse_line(line)
        stripped = line.strip()
        upload = stripped.startswith("/upload")
        if not paths and (upload or text):
            # A path that names no readable file gets a plain answer, not a turn about the path.
            problem = _path_problem(stripped[len("/upload"):].strip() if upload else stripped, upload)
            if problem is not None:
                await self.port.send_text(not_a_file_line(*problem, self._language))
                return
        media = []
        for path in paths:
            try:
                media.append(media_from_path(path))
            except OSError:  # gone or unreadable since it was named
                await self.port.send_text(not_a_file_line("missing", str(path), self._language))
                return
        if not text and not media:
            return
        command = text.split()[0][1:].split("@")[0].lower() if text.startswith("/") else None
        await self._handler.handle(InboundEvent(
            surface="console", chat_id=CHAT_ID, user_id=self._user, reply=self.port, text=text,
            media=media, language=self._language, user_name=self._user, command=command,
        ))

    async def run_piped(self, lines: Iterable[str] | AsyncIterable[str], drain: Drain, *,
                        demo_when_empty: bool = False, stop: asyncio.Event | None = None,
                        grace: float = 30.0) -> int:
        """Handle every line in order, wait for the work they started, then list the results.

        With `demo_when_empty`, no input at all means "show me": the demo clip goes through the
        whole product (local backend, agent, render) so a first run ends with a video. When `stop`
        is set, reading ends and running work gets `grace` seconds (see the module docstring).
        """
        stop = stop or asyncio.Event()
        source = _aiter(lines)
        any_input = False
        while (line := await _next_or_stop(source, stop)) is not None:
            if line.strip() in QUIT_WORDS:
                break
            any_input = any_input or bool(line.strip())
            await self.say(line)
        if demo_when_empty and not any_input and not stop.is_set():
            self._stream.write("No input: sending the demo clip (/demo) through the bot.\n")
            await self.say("/demo")
        await self._finish(drain, stop, grace)
        for path in self.port.saved:
            self._stream.write(f"{path}\n")
        self._stream.flush()
        return 0

    async def run_interactive(self, lines: Iterable[str] | AsyncIterable[str], drain: Drain, *,
                              stop: asyncio.Event | None = None, grace: float = 30.0) -> int:
        self._stream.write("🎵 AI With Music — send a video: type its path (add words for the music), or /demo.\n"
                           "   Then refine it in words (\"lo-fi instead\", \"music at 20%\"), /export, /help, /quit.\n")
        stop = stop or asyncio.Event()
        source = _aiter(lines)
        while True:
            self._stream.write("you> ")
            self._stream.flush()
            line = await _next_or_stop(source, stop)
            if line is None or line.strip() in QUIT_WORDS:
                self._stream.write("\n")
                if stop.is_set():
                    await self._wind_down(drain, grace)
                return 0
            await self.say(line)

    async def _finish(self, drain: Drain, stop: asyncio.Event, grace: float) -> None:
        """Wait for the work the input started; a stop signal meanwhile limits that to `grace`."""
        if not stop.is_set():
            finished = asyncio.ensure_future(drain())
            stopped = asyncio.ensure_future(stop.wait())
            await asyncio.wait({finished, stopped}, return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            if finished.done():
                return
            finished.cancel()
            await asyncio.gather(finished, return_exceptions=True)
        await self._wind_down(drain, grace)

    async def _wind_down(self, drain: Drain, grace: float) -> None:
        print(f"Stopping: no more input; running work has {grace:.0f} s to finish.", file=sys.stderr)
        if not await drain(grace):
            print("Work still running is kept and resumes at the next start.", file=sys.stderr)


def _demo_clip(out_dir: Path) -> Path:
    from bots.democlip import make_demo_clip

    return make_demo_clip(Path(out_dir) / "demo_clip.mp4")


def _language_from_env() -> str:
    lang = os.environ.get("AIWM_LANGUAGE") or os.environ.get("LANG") or "en"
    return "zh" if lang.lower().startswith("zh") else "en"


def _user_name() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "you"


async def _aiter(lines: Iterable[str] | AsyncIterable[str]):
    if hasattr(lines, "__aiter__"):
        async for line in lines:  # type: ignore[union-attr]
            yield line
    else:
        for line in lines:  # type: ignore[union-attr]
            yield line


async def _next_or_stop(source, stop: asyncio.Event) -> str | None:
    """The next input line; None at the end of input or once a stop signal came (even mid-wait)."""
    if stop.is_set():
        return None
    line = asyncio.ensure_future(anext(source, None))
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait({line, stopped}, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if stop.is_set():  # a line that came with the signal is not taken either
        line.cancel()
        await asyncio.gather(line, return_exceptions=True)
        return None
    return line.result()
