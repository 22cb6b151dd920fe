"""analyse(): cuts, brightness, warmth and motion on real clips, in both decoding passes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from engine.analyse import analyse, analyse_picture
from engine.probe import probe
from tests.clips import make_clip

CUTS = [1.0, 2.2, 3.04]


@pytest.mark.parametrize("suffix", [".mp4", ".webm", ".avi"])
def test_full_pass_finds_known_cuts_within_a_frame(tmp_path: Path, suffix: str) -> None:
    clip = make_clip(tmp_path / f"cuts{suffix}", duration=4.0, fps=25, cuts=CUTS, audio=None)
    result = analyse(clip)
    assert not result.sampled
    found = [c.time for c in result.cuts]
    assert len(found) == len(CUTS)
    for want, got in zip(CUTS, found):
        assert abs(got - want) <= 1 / 25 + 1e-6
    assert all(0.5 <= c.strength <= 1.0 for c in result.cuts)


def test_packet_pass_finds_cuts_from_packet_sizes(tmp_path: Path) -> None:
    # libx264 ultrafast places no keyframes at cuts: they only show in the packet sizes.
    clip = make_clip(tmp_path / "cuts.mp4", duration=4.0, fps=25, cuts=CUTS, audio=None)
    info = probe(clip)
    result = analyse_picture(clip, info, full_decode=False)
    assert result.sampled
    found = [c.time for c in result.cuts]
    assert len(found) == len(CUTS)
    for want, got in zip(CUTS, found):
        assert abs(got - want) <= 1 / 25 + 1e-6


def test_packet_pass_uses_scene_cut_keyframes(tmp_path: Path) -> None:
    # Different test sources back to back, encoded the way most exports are (x264 scene cuts).
    clip = tmp_path / "scenes.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=1.2",
         "-f", "lavfi", "-i", "smptebars=s=320x240:r=25:d=1.0",
         "-f", "lavfi", "-i", "mandelbrot=s=320x240:r=25,trim=duration=1.4",
         "-f", "lavfi", "-i", "testsrc=s=320x240:r=25:d=0.8",
         "-filter_complex", "[0:v][1:v][2:v][3:v]concat=n=4:v=1:a=0,format=yuv420p[v]",
         "-map", "[v]", "-c:v", "libx264", "-preset", "veryfast", str(clip)], check=True)
    info = probe(clip)
    full = [c.time for c in analyse_picture(clip, info, full_decode=True).cuts]
    assert full == pytest.approx([1.2, 2.2, 3.6], abs=0.041)
    packet = [c.time for c in analyse_picture(clip, info, full_decode=False).cuts]
    assert packet  # the encoder's scene-cut keyframes
    for t in packet:
        assert min(abs(t - want) for want in (1.2, 2.2, 3.6)) <= 0.041


def test_brightness_and_warmth_follow_the_picture(tmp_path: Path) -> None:
    # The clip factory's first segment is dark blue (0x203060), the second bright orange (0xE0A040).
    clip = make_clip(tmp_path / "two.mp4", duration=2.0, cuts=[1.0], audio=None)
    for full in (True, False):
        result = analyse_picture(clip, probe(clip), full_decode=full)
        assert len(result.brightness) == len(result.warmth) == len(result.motion) == 2
        if full:  # the packet pass sees only the first keyframe of this tiny clip
            assert result.brightness[1] > result.brightness[0] + 0.3
            assert result.warmth[1] > 0.3 > -0.1 > result.warmth[0]
        assert all(0.0 <= b <= 1.0 for b in result.brightness)
        assert all(-1.0 <= w <= 1.0 for w in result.warmth)


def test_bright_clip_is_brighter_than_a_dark_one(tmp_path: Path) -> None:
    dark = tmp_path / "dark.mp4"
    bright = tmp_path / "bright.mp4"
    for path, colour in ((dark, "0x101018"), (bright, "0xF0F0E8")):
        subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"color=c={colour}:s=160x120:d=1",
                        "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)], check=True)
    assert analyse(bright).mean_brightness > 0.85 > 0.15 > analyse(dark).mean_brightness


def test_warm_clip_is_warmer_than_a_cool_one(tmp_path: Path) -> None:
    warm = tmp_path / "warm.mkv"
    cool = tmp_path / "cool.mkv"
    for path, colour in ((warm, "0xE08030"), (cool, "0x3070D0")):
        subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"color=c={colour}:s=160x120:d=1",
                        "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)], check=True)
    assert analyse(warm).mean_warmth > 0.3
    assert analyse(cool).mean_warmth < -0.3


@pytest.mark.parametrize("full", [True, False])
def test_moving_clip_has_more_motion_than_a_still_one(tmp_path: Path, full: bool) -> None:
    moving = make_clip(tmp_path / "moving.mp4", duration=2.0, audio=None)  # scrolling test pattern
    still = make_clip(tmp_path / "still.mp4", duration=2.0, cuts=[1.0], audio=None)  # two flat colours
    busy = analyse_picture(moving, probe(moving), full_decode=full).motion
    calm = analyse_picture(still, probe(still), full_decode=full).motion
    assert min(busy) > 0.2 > 0.1 > max(calm)


def test_analyse_includes_the_sound_and_reports_progress(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "talk.mp4", duration=2.0, audio="speech")
    seen: list[tuple[str, float | None]] = []
    result = analyse(clip, progress=lambda stage, fraction: seen.append((stage, fraction)))
    assert result.info.duration == pytest.approx(2.0, abs=0.1)
    assert result.audio.present and result.audio.speech_ratio > 0.5
    assert result.audio.loudness_lufs is not None
    assert seen[0] == ("analyse", 0.0) and seen[-1] == ("analyse", 1.0)
    mute = make_clip(tmp_path / "mute.mp4", duration=1.0, audio=None)
    assert not analyse(mute).audio.present
