"""`aiwm chat` as a script would use it: lines on stdin, videos saved, paths printed, then exit.
A real process with the embedded local backend, the real client and SQLite."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from adapters.console.chat import parse_line
from tests.clips import make_clip
from tests.media_checks import ffprobe, stream

ROOT = Path(__file__).resolve().parent.parent


def chat(lines: list[str], tmp: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "AIWM_DATA_DIR": str(tmp / "data"), "LANG": "C.UTF-8"}
    for name in ("NEMO_API_URL", "NEMO_TOKEN", "TELEGRAM_BOT_TOKEN", "DISCORD_BOT_TOKEN"):
        env.pop(name, None)
    return subprocess.run([sys.executable, "-m", "bots.cli", "chat", "--out", str(tmp / "out")],
                          input="\n".join(lines) + "\n", capture_output=True, text=True, cwd=tmp, env=env, timeout=300)


def saved_videos(result: subprocess.CompletedProcess) -> list[Path]:
    return [Path(line) for line in result.stdout.splitlines() if line.endswith(".mp4") and Path(line).is_file()]


def test_a_piped_clip_comes_back_as_a_video_with_music(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "my clip.mp4", duration=2.0, audio="tone")
    result = chat([str(clip)], tmp_path)

    assert result.returncode == 0, result.stderr
    videos = saved_videos(result)
    assert len(videos) == 1, result.stdout
    assert videos[0].parent == tmp_path / "out"
    assert stream(ffprobe(videos[0]), "audio")["codec_name"] == "aac"
    assert "Traceback" not in result.stderr


def test_a_scripted_conversation_refines_and_exports_again(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mov", duration=2.0, audio=None)
    result = chat([f"{clip} calm piano", "music at 20%", "status", "export"], tmp_path)

    assert result.returncode == 0, result.stderr
    assert len(saved_videos(result)) == 2, result.stdout
    assert "20%" in result.stdout


def test_a_wrong_file_gets_a_friendly_answer(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    result = chat([f"/upload {notes}"], tmp_path)

    assert result.returncode == 0, result.stderr
    assert "video" in result.stdout.lower()
    assert saved_videos(result) == []


def test_lines_name_files_even_with_spaces_and_captions(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "my holiday.mp4", duration=1.0)
    assert parse_line(f"{clip} lo-fi please") == ("lo-fi please", [clip])
    assert parse_line(f"/upload '{clip}'") == ("", [clip])
    assert parse_line("music at 20%") == ("music at 20%", [])


def test_aiwm_run_with_no_tokens_and_no_input_shows_the_demo(tmp_path: Path) -> None:
    env = {**os.environ, "AIWM_DATA_DIR": str(tmp_path / "data")}
    for name in ("NEMO_API_URL", "NEMO_TOKEN", "TELEGRAM_BOT_TOKEN", "DISCORD_BOT_TOKEN"):
        env.pop(name, None)
    result = subprocess.run([sys.executable, "-m", "bots.cli", "run", "--out", str(tmp_path / "out")],
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)

    assert result.returncode == 0, result.stderr
    videos = saved_videos(result)
    assert len(videos) == 1, result.stdout
    assert stream(ffprobe(videos[0]), "audio")["codec_name"] == "aac"
