"""probe(): real clips in every container we accept, rotation, and each kind of bad input."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

from engine.errors import InvalidMediaError
from engine.probe import probe
from tests.clips import make_clip


@pytest.mark.parametrize(
    "suffix, codec, audio_codec",
    [(".mp4", "h264", "aac"), (".mov", "h264", "aac"), (".mkv", "h264", "aac"),
     (".webm", "vp9", "opus"), (".avi", "mpeg4", "mp3")],
)
def test_probe_reads_each_container(tmp_path: Path, suffix: str, codec: str, audio_codec: str) -> None:
    clip = make_clip(tmp_path / f"clip{suffix}", duration=2.0, size=(320, 240), fps=25)
    info = probe(clip)
    assert (info.width, info.height) == (320, 240)
    assert info.duration == pytest.approx(2.0, abs=0.1)
    assert info.fps == pytest.approx(25.0, abs=0.01)
    assert info.video_codec == codec
    assert info.rotation == 0
    assert info.has_audio and info.audio_codec.startswith(audio_codec)
    assert info.audio_sample_rate == 48000 and info.audio_channels == 1
    assert info.size_bytes == clip.stat().st_size
    assert info.video_bitrate and info.video_bitrate > 0


def test_clip_without_audio(tmp_path: Path) -> None:
    info = probe(make_clip(tmp_path / "quiet.mp4", audio=None))
    assert not info.has_audio
    assert info.audio_codec is None and info.audio_sample_rate is None and info.audio_channels is None


def _ffmpeg_display_frame(path: Path) -> np.ndarray:
    """The first picture as a player shows it: ffmpeg applies the display matrix (autorotate)."""
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-frames:v", "1", "-f", "rawvideo",
         "-pix_fmt", "gray", "-"], check=True, capture_output=True).stdout
    info = probe(path)
    return np.frombuffer(raw, np.uint8).reshape(info.display_height, info.display_width)


@pytest.mark.parametrize("tag", [90, 180, 270])
def test_rotation_matches_how_a_player_turns_the_picture(tmp_path: Path, tag: int) -> None:
    clip = make_clip(tmp_path / "turned.mp4", size=(64, 48), audio=None, rotation=tag)
    info = probe(clip)
    assert info.rotation in (90, 180, 270)
    with av.open(str(clip)) as container:
        stored = next(container.decode(video=0)).to_ndarray(format="gray")
    # np.rot90 turns counterclockwise; the contract's rotation is clockwise.
    expected = np.rot90(stored, k=-info.rotation // 90)
    shown = _ffmpeg_display_frame(clip)
    assert shown.shape == expected.shape
    assert np.abs(shown.astype(int) - expected.astype(int)).mean() < 8
    if info.rotation in (90, 270):
        assert (info.display_width, info.display_height) == (48, 64)


def test_rotation_90_clockwise_detected(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "portrait.mp4", size=(64, 48), audio=None, rotation=90)
    info = probe(clip)
    assert info.rotation == 90
    assert (info.display_width, info.display_height) == (48, 64)


def _assert_friendly(error: InvalidMediaError, tmp_path: Path) -> None:
    text = str(error)
    assert text and "\n" not in text
    assert str(tmp_path) not in text and "Errno" not in text and "Traceback" not in text


def _bad_inputs(tmp_path: Path) -> dict[str, Path]:
    files: dict[str, Path] = {}
    files["missing"] = tmp_path / "nothing-here.mp4"
    files["directory"] = tmp_path
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    files["empty"] = empty
    text = tmp_path / "notes.txt"
    text.write_text("hello, this is not a video\n" * 20)
    files["text"] = text
    pdf = tmp_path / "doc.pdf"
    pdf.write_bytes(b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<<>>\n%%EOF\n")
    files["pdf"] = pdf
    sound = tmp_path / "song.m4a"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=d=1", str(sound)], check=True)
    files["audio only"] = sound
    picture = tmp_path / "photo.png"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=64x48", "-frames:v", "1",
                    str(picture)], check=True)
    files["still picture"] = picture
    clip = make_clip(tmp_path / "whole.mp4", duration=3.0, audio=None, extra_args=["-movflags", "+faststart"])
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
    files["truncated mp4"] = cut
    mkv = make_clip(tmp_path / "whole.mkv", duration=3.0, audio=None)
    cut_mkv = tmp_path / "cut.mkv"
    cut_mkv.write_bytes(mkv.read_bytes()[: mkv.stat().st_size // 3])
    files["truncated mkv"] = cut_mkv
    tiny = tmp_path / "tiny.avi"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=320x8:d=1", "-c:v", "mpeg4",
                    str(tiny)], check=True)
    files["absurd size"] = tiny
    long = tmp_path / "long.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=s=32x32:r=1", "-t", "605",
                    "-c:v", "libx264", "-preset", "ultrafast", str(long)], check=True)
    files["too long"] = long
    data = bytearray(make_clip(tmp_path / "z.mp4", duration=1.0, audio=None).read_bytes())
    at = data.find(b"mdat")
    length = int.from_bytes(data[at - 4: at], "big")
    rng = random.Random(7)
    data[at + 4: at - 4 + length] = bytes(rng.getrandbits(8) for _ in range(length - 8))
    garbled = tmp_path / "garbled.mp4"
    garbled.write_bytes(bytes(data))
    files["undecodable frames"] = garbled
    mkv_bytes = make_clip(tmp_path / "n.mkv", duration=1.0, audio=None).read_bytes()
    unknown = tmp_path / "unknown-codec.mkv"
    unknown.write_bytes(mkv_bytes.replace(b"V_MPEG4/ISO/AVC", b"V_QQQQQ/ISO/ZZZ"))
    files["unknown codec"] = unknown
    return files


def test_each_bad_input_gets_one_friendly_line(tmp_path: Path) -> None:
    messages = {}
    for kind, path in _bad_inputs(tmp_path).items():
        with pytest.raises(InvalidMediaError) as caught:
            probe(path)
        _assert_friendly(caught.value, tmp_path)
        messages[kind] = str(caught.value)
    assert "empty" in messages["empty"]
    assert "sound" in messages["audio only"]
    assert "picture" in messages["still picture"]
    assert "10 minutes" in messages["too long"]
    assert "8192" in messages["absurd size"]
    assert "incomplete" in messages["truncated mkv"]
    assert "decode" in messages["undecodable frames"] or "damaged" in messages["undecodable frames"]
    assert "decode" in messages["unknown codec"]
