"""Bad input typed into the console chat, through the real core and the embedded local backend.

Each case sends one line and waits for the work it started; it must get a clear answer (or, for
an empty line, nothing), and the chat keeps working: a valid clip sent afterwards gets its video.
"""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
import pytest_asyncio

from adapters.console.chat import ConsoleChat, parse_line, not_a_file_line
from adapters.console.port import ConsoleSurface
from bots.runtime import running_core
from bots.settings import Settings
from core.i18n import say
from tests.badinput.harness import WAIT, says
from tests.clips import make_clip

pytestmark = pytest.mark.asyncio(loop_scope="module")


class Console:
    """The console chat on a real core; `send` returns what the bot wrote for one line."""

    def __init__(self, chat: ConsoleChat, core, buffer: io.StringIO, root: Path) -> None:
        self.chat, self.core, self.buffer, self.root = chat, core, buffer, root

    async def send(self, line: str) -> str:
        start = len(self.buffer.getvalue())
        saved = len(self.chat.port.saved)
        await self.chat.say(line)
        assert await self.core.drain(WAIT), "the line's work never finished"
        self.new_videos = self.chat.port.saved[saved:]
        return self.buffer.getvalue()[start:]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def console(tmp_path_factory):
    root = tmp_path_factory.mktemp("console")
    buffer = io.StringIO()
    surface = ConsoleSurface(root / "out", buffer)
    settings = Settings(_env_file=None, nemo_api_url=None, aiwm_data_dir=root / "data")
    async with running_core(settings, [surface]) as core:
        await core.start()
        yield Console(ConsoleChat(core, surface, language="en", stream=buffer), core, buffer, root)
        await core.stop()


def bot_lines(output: str) -> list[str]:
    return [line[2:] for line in output.splitlines() if line.startswith("🤖 ")]


def _ffmpeg_png(path: Path) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "color=c=red:size=32x32", "-frames:v", "1", "-f", "image2", "-c:v", "png", str(path)],
                   check=True, capture_output=True)


async def test_a_path_to_a_missing_file_is_named_as_missing(console):
    path = f"{console.root}/nope/missing.mp4"
    out = await console.send(path)
    assert bot_lines(out) == [not_a_file_line("missing", path)]


async def test_a_folder_is_not_taken_for_a_clip(console):
    folder = console.root / "folder"
    folder.mkdir()
    out = await console.send(f"/upload {folder}")
    assert bot_lines(out) == [not_a_file_line("folder", str(folder))]
    assert bot_lines(await console.send(str(folder))) == [not_a_file_line("folder", str(folder))]


async def test_a_picture_named_mp4_gets_the_bad_video_answer(console):
    png = console.root / "picture.mp4"
    _ffmpeg_png(png)
    lines = bot_lines(await console.send(str(png)))
    assert len(lines) == 1 and says(lines[0], "bad_video"), lines
    assert not console.new_videos


async def test_an_empty_mp4_gets_the_bad_video_answer(console):
    empty = console.root / "empty.mp4"
    empty.write_bytes(b"")
    lines = bot_lines(await console.send(str(empty)))
    assert len(lines) == 1 and says(lines[0], "bad_video"), lines
    assert not console.new_videos


async def test_a_path_with_dot_dot_parts_is_a_real_file_and_gets_its_video(console):
    make_clip(console.root / "dots.mp4", duration=1.0, size=(64, 48), fps=10)
    (console.root / "sub").mkdir()
    out = await console.send(f"{console.root}/sub/../dots.mp4")
    assert len(console.new_videos) == 1, out
    assert say("generic_error", "en") not in bot_lines(out)


async def test_a_100_kb_line_of_words_is_one_message(console):
    line = "word " * 20_000
    assert parse_line(line) == (line.strip(), [])  # one pass: only a path's worth of words is tried
    lines = bot_lines(await console.send(line))
    assert len(lines) == 1 and say("generic_error", "en") not in lines, lines


async def test_a_100_kb_path_is_missing_not_too_long_for_the_system(console):
    path = "/tmp/" + "a" * 100_000 + ".mp4"
    assert parse_line(path) == (path, [])  # Path.is_file would raise "File name too long"
    lines = bot_lines(await console.send(path))
    assert len(lines) == 1 and lines[0] == not_a_file_line("missing", path[:200] + "…"), lines


async def test_nul_characters_are_dropped(console):
    assert bot_lines(await console.send("music\x00 at 20%")) == bot_lines(await console.send("music at 20%"))
    path = f"{console.root}/mis\x00sing.mp4"
    assert bot_lines(await console.send(path)) == [not_a_file_line("missing", path.replace("\x00", ""))]


async def test_lone_surrogates_and_rtl_overrides_are_answered_and_printable(console):
    out = await console.send("make it \ud800 lo-fi \u202e4pm.exe \udcff")
    lines = bot_lines(out)
    assert len(lines) == 1 and say("generic_error", "en") not in lines, lines
    out.encode("utf-8")  # a real terminal (UTF-8, strict) can print every answer


async def test_empty_and_blank_lines_are_silent(console):
    assert await console.send("") == ""
    assert await console.send("   \t ") == ""


async def test_a_valid_clip_afterwards_still_gets_its_video(console):
    clip = make_clip(console.root / "after all that.mp4", duration=1.0, size=(64, 48), fps=10)
    out = await console.send(f"{clip} lo-fi")
    assert len(console.new_videos) == 1, out
    assert console.new_videos[0].is_file()


async def test_a_real_piped_console_survives_raw_bad_bytes(tmp_path: Path) -> None:
    """Through `aiwm chat` itself: invalid UTF-8, NUL bytes and a 100 KB line on stdin."""
    env = {**os.environ, "AIWM_DATA_DIR": str(tmp_path / "data"), "LANG": "C.UTF-8"}
    for name in ("NEMO_API_URL", "NEMO_TOKEN", "TELEGRAM_BOT_TOKEN", "DISCORD_BOT_TOKEN"):
        env.pop(name, None)
    missing = tmp_path / "missing.mp4"
    stdin = b"\n".join([b"\xff\xfe bad \x00 bytes", b"x" * 100_000, b"", str(missing).encode(), b"/status"]) + b"\n"
    result = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "bots.cli", "chat", "--out", str(tmp_path / "out")],
                            input=stdin, capture_output=True, cwd=tmp_path, env=env, timeout=300)
    stdout, stderr = result.stdout.decode("utf-8"), result.stderr.decode("utf-8", "replace")
    assert result.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert not_a_file_line("missing", str(missing)) in bot_lines(stdout)
