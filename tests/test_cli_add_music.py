"""`aiwm add-music` and `aiwm demo` as a user runs them: a real process, real files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.clips import make_clip
from tests.media_checks import ffprobe, stream

ROOT = Path(__file__).resolve().parent.parent


def aiwm(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bots.cli", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, timeout=300)


def test_add_music_with_json_summary(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "holiday.mov", duration=2.0, audio="tone")
    result = aiwm("add-music", str(clip), "--prompt", "lo-fi 80 bpm", "--seed", "5", "--json")

    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    out = tmp_path / "holiday_music.mp4"
    assert Path(summary["output"]) == out and out.exists()
    assert summary["style"] == "lofi"
    assert summary["seed"] == 5
    for key in ("tempo", "key", "cuts_on_beat", "cuts_total", "loudness_lufs", "size_bytes", "engine_version"):
        assert key in summary
    assert stream(ffprobe(out), "audio") is not None


def test_add_music_for_discord_fits_under_its_cap(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", duration=2.0)
    out = tmp_path / "for-discord.mp4"
    result = aiwm("add-music", str(clip), "-o", str(out), "--for", "discord", "--json")
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size <= 10 * 1024 * 1024


def _text_file(tmp: Path) -> Path:
    path = tmp / "notes.mp4"
    path.write_text("this is not a video\n" * 50)
    return path


def _empty_file(tmp: Path) -> Path:
    path = tmp / "empty.mp4"
    path.write_bytes(b"")
    return path


def _audio_only(tmp: Path) -> Path:
    path = tmp / "song.m4a"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=d=1", "-c:a", "aac", str(path)], check=True)
    return path


def _truncated(tmp: Path) -> Path:
    full = make_clip(tmp / "full.mp4", duration=2.0)
    path = tmp / "truncated.mp4"
    path.write_bytes(full.read_bytes()[: full.stat().st_size // 3])
    full.unlink()
    return path


def _missing(tmp: Path) -> Path:
    return tmp / "nowhere.mp4"


@pytest.mark.parametrize("make_bad", [_text_file, _empty_file, _audio_only, _truncated, _missing])
def test_bad_input_gives_one_clear_line_and_no_output(tmp_path: Path, make_bad) -> None:
    bad = make_bad(tmp_path)
    before = set(tmp_path.iterdir())
    out = tmp_path / "result.mp4"

    result = aiwm("add-music", str(bad), "-o", str(out))

    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()
    assert set(tmp_path.iterdir()) == before  # nothing half-written left behind


def test_demo_makes_a_clip_and_its_music_version(tmp_path: Path) -> None:
    result = aiwm("demo", "--out", str(tmp_path / "demo"))
    assert result.returncode == 0, result.stderr
    made = tmp_path / "demo" / "demo_clip_music.mp4"
    info = ffprobe(made)
    assert stream(info, "audio")["codec_name"] == "aac"
    assert abs(float(info["format"]["duration"]) - 12.0) < 0.1
