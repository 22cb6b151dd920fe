"""The engine end to end, checked the way a creator would: the file plays with music in it."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import InvalidMediaError
from engine.models import EditSpec, Title
from engine.pipeline import make
from tests.clips import make_clip
from tests.media_checks import (duration_of, ffprobe, loudness, moov_before_mdat, stream, tags,
                                video_packets_md5)


@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".mkv", ".webm", ".avi"])
def test_every_container_comes_back_as_an_mp4_with_music(tmp_path: Path, suffix: str) -> None:
    clip = make_clip(tmp_path / f"in{suffix}", duration=2.0, audio="tone")
    out = tmp_path / "out.mp4"

    summary = make(EditSpec(source=clip), out)

    info = ffprobe(out)
    audio = stream(info, "audio")
    assert audio["codec_name"] == "aac" and int(audio["sample_rate"]) == 48000
    assert abs(duration_of(info, "audio") - duration_of(info, "video")) < 0.05
    assert abs(summary.duration - 2.0) < 0.05
    assert moov_before_mdat(out)
    assert summary.size_bytes == out.stat().st_size


def test_h264_video_is_copied_untouched_and_mpeg4_is_reencoded(tmp_path: Path) -> None:
    h264 = make_clip(tmp_path / "in.mp4", duration=2.0, audio=None)
    copied = make(EditSpec(source=h264), tmp_path / "a.mp4")
    assert copied.video_copied
    assert video_packets_md5(tmp_path / "a.mp4") == video_packets_md5(h264)

    mpeg4 = make_clip(tmp_path / "in.avi", duration=2.0, audio=None)
    reencoded = make(EditSpec(source=mpeg4), tmp_path / "b.mp4")
    assert not reencoded.video_copied
    assert stream(ffprobe(tmp_path / "b.mp4"), "video")["codec_name"] == "h264"


def test_loudness_is_normalised_without_clipping(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", duration=4.0, audio="speech")
    out = tmp_path / "out.mp4"
    summary = make(EditSpec(source=clip), out)

    integrated, true_peak = loudness(out)
    assert abs(integrated - (-14.0)) <= 1.0
    assert true_peak <= -1.0 + 0.3  # AAC adds a little overshoot after the limiter
    assert summary.music_volume < 0.5  # under the clip's own sound


def test_same_seed_same_music_other_seed_other_take(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", duration=3.0, audio=None, cuts=[1.0, 2.0])
    first = make(EditSpec(source=clip, seed=3), tmp_path / "1.mp4")
    again = make(EditSpec(source=clip, seed=3), tmp_path / "2.mp4")
    other = make(EditSpec(source=clip, seed=4), tmp_path / "3.mp4")

    assert _audio_pcm(tmp_path / "1.mp4") == _audio_pcm(tmp_path / "2.mp4")
    assert _audio_pcm(tmp_path / "1.mp4") != _audio_pcm(tmp_path / "3.mp4")
    assert (first.tempo, first.key) == (again.tempo, again.key)


def test_beats_land_on_known_scene_cuts(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", duration=8.0, audio=None, cuts=[2.0, 4.0, 6.0])
    summary = make(EditSpec(source=clip), tmp_path / "out.mp4")

    assert summary.cuts_total == 3
    assert summary.cuts_on_beat >= 2


def test_rotation_and_portrait_are_kept(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", duration=2.0, size=(320, 240), rotation=90)
    summary = make(EditSpec(source=clip), tmp_path / "out.mp4")

    assert (summary.width, summary.height) == (240, 320)
    video = stream(ffprobe(tmp_path / "out.mp4"), "video")
    rotations = [abs(int(d.get("rotation", 0))) for d in video.get("side_data_list", [])]
    rotations.append(abs(int(video.get("tags", {}).get("rotate", 0))))
    assert 90 in rotations or 270 in rotations


def test_provenance_is_written_into_the_file(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", duration=2.0)
    summary = make(EditSpec(source=clip, style="lofi", seed=11), tmp_path / "out.mp4")

    written = " ".join(tags(ffprobe(tmp_path / "out.mp4")).values()).lower()
    assert "original" in written
    assert "lofi" in written and str(summary.seed) in written and summary.key.lower() in written


def test_no_music_keeps_only_the_original_sound(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", duration=2.0, audio="tone")
    summary = make(EditSpec(source=clip, prompt="no music please"), tmp_path / "out.mp4")
    assert summary.style == "none" and summary.music_volume == 0.0


def test_trim_and_title(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", duration=4.0)
    out = tmp_path / "out.mp4"
    summary = make(EditSpec(source=clip, trim_start=1.0, trim_end=3.0, titles=[Title("Hi", 0.0, 1.0)]), out)

    assert abs(summary.duration - 2.0) < 0.05
    assert abs(duration_of(ffprobe(out), "video") - 2.0) < 0.1


def test_a_cap_is_never_exceeded(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", duration=3.0, size=(640, 360), fps=25,
                     video_codec=["-c:v", "libx264", "-preset", "ultrafast", "-crf", "10", "-pix_fmt", "yuv420p"])
    cap = 150_000
    summary = make(EditSpec(source=clip, max_bytes=cap), tmp_path / "out.mp4")
    assert (tmp_path / "out.mp4").stat().st_size <= cap
    assert summary.size_bytes <= cap


def test_a_preset_makes_9_by_16(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", duration=2.0, size=(320, 180))
    summary = make(EditSpec(source=clip, preset="tiktok", framing="letterbox"), tmp_path / "out.mp4")
    assert abs(summary.width / summary.height - 9 / 16) < 0.02


def test_broken_input_fails_cleanly_without_partial_output(tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 100)
    out = tmp_path / "out.mp4"
    with pytest.raises(InvalidMediaError) as caught:
        make(EditSpec(source=broken), out)
    assert "\n" not in str(caught.value) and str(tmp_path) not in str(caught.value)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["broken.mp4"]


def _audio_pcm(path: Path) -> bytes:
    import subprocess

    return subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:a:0", "-f", "s16le", "-"],
                          check=True, capture_output=True).stdout


def test_the_source_location_and_device_tags_do_not_travel(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", duration=2.0, extra_args=[
        "-metadata", "location=+48.8584+002.2945/", "-metadata", "artist=Jane's phone"])
    assert "location" in tags(ffprobe(clip))  # the test clip really carries them

    make(EditSpec(source=clip), tmp_path / "out.mp4")

    written = tags(ffprobe(tmp_path / "out.mp4"))
    assert "location" not in written and "Jane" not in " ".join(written.values())
    assert "original composition" in written.get("comment", "").lower()
