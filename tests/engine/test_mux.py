"""The picture side of the final MP4: copied when possible, re-encoded when needed, titles, tags."""

from __future__ import annotations

import hashlib
import struct
import subprocess
import wave
from pathlib import Path

import av
import numpy as np
import pytest

from engine.errors import EngineError, ToolMissingError
from engine.ffmpeg import run_ffmpeg
from engine.mix import mix_and_mux
from engine.models import Title
from engine.mux import video_stream_end
from engine.probe import probe
from engine.provenance import provenance_tags, read_provenance
from tests.clips import make_clip
from tests.media_checks import ffprobe, stream

RATE = 48000


def music_wav(path: Path, seconds: float) -> Path:
    t = np.arange(int(seconds * RATE)) / RATE
    wave_ = (0.2 * np.sin(2 * np.pi * 330 * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(np.repeat(wave_, 2).tobytes())
    return path


def render(tmp_path: Path, clip: Path, name: str = "out.mp4", **options):
    info = probe(clip)
    wav = music_wav(tmp_path / "music.wav", info.duration)
    options.setdefault("music_volume", 0.35)
    options.setdefault("has_original_audio", info.has_audio)
    return mix_and_mux(clip, wav, tmp_path / name, info=info, **options)


def video_packets_digest(path: Path) -> tuple[int, str]:
    digest = hashlib.md5()
    count = 0
    with av.open(str(path)) as container:
        for packet in container.demux(container.streams.video[0]):
            if packet.size:
                digest.update(bytes(packet))
                count += 1
    return count, digest.hexdigest()


def stream_durations(path: Path) -> dict[str, float]:
    """Duration of each stream, in seconds, from its last packet's end."""
    ends: dict[str, float] = {}
    with av.open(str(path)) as container:
        for packet in container.demux():
            if packet.pts is None or not packet.size:
                continue
            kind = packet.stream.type
            end = float((packet.pts + (packet.duration or 0)) * packet.time_base)
            ends[kind] = max(ends.get(kind, 0.0), end)
    return ends


def frame_at(path: Path, seconds: float) -> np.ndarray:
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            if frame.time is not None and frame.time >= seconds:
                return frame.to_ndarray(format="gray").astype(np.float64)
    raise AssertionError("no frame at that time")


def top_level_atoms(path: Path) -> list[str]:
    names = []
    with open(path, "rb") as f:
        while header := f.read(8):
            size, name = struct.unpack(">I4s", header)
            if size == 1:
                size = struct.unpack(">Q", f.read(8))[0] - 8
            names.append(name.decode("latin-1"))
            f.seek(size - 8, 1)
    return names


def test_h264_video_is_copied_bit_for_bit(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", duration=2.0)
    result = render(tmp_path, clip)
    assert result.video_copied
    assert video_packets_digest(result.output) == video_packets_digest(clip)


def test_sound_and_picture_end_together(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", duration=2.4)
    result = render(tmp_path, clip)
    ends = stream_durations(result.output)
    assert abs(ends["audio"] - ends["video"]) < 0.05
    assert abs(probe(result.output).duration - probe(clip).duration) < 0.05


def test_output_starts_with_the_index_for_streaming(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", duration=1.0)
    atoms = top_level_atoms(render(tmp_path, clip).output)
    assert atoms.index("moov") < atoms.index("mdat")


def test_mpeg4_in_avi_is_reencoded_to_h264(tmp_path):
    clip = make_clip(tmp_path / "in.avi", duration=1.5)
    result = render(tmp_path, clip)
    out = probe(result.output)
    assert not result.video_copied
    assert out.video_codec == "h264"
    assert (out.width, out.height) == (320, 240)
    assert abs(out.duration - 1.5) < 0.1


def test_vp9_from_webm_is_copied_into_mp4(tmp_path):
    clip = make_clip(tmp_path / "in.webm", duration=1.0)
    result = render(tmp_path, clip)
    assert result.video_copied
    assert probe(result.output).video_codec == "vp9"


def test_rotation_survives_the_copy(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", duration=1.0, size=(320, 180), rotation=90)
    assert probe(clip).rotation == 90
    out = probe(render(tmp_path, clip).output)
    assert out.rotation == 90
    assert (out.display_width, out.display_height) == (180, 320)


def test_rotated_clip_stays_upright_when_reencoded(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", duration=1.0, size=(320, 180), rotation=90)
    result = render(tmp_path, clip, titles=[Title("Up", 0.0, 1.0)])
    out = probe(result.output)
    assert not result.video_copied
    assert (out.display_width, out.display_height) == (180, 320)


def test_trim_between_keyframes_reencodes_to_the_exact_length(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", duration=3.0, extra_args=["-g", "250"])
    result = render(tmp_path, clip, trim_start=0.7, trim_end=2.2)
    ends = stream_durations(result.output)
    assert not result.video_copied
    assert ends["video"] == pytest.approx(1.5, abs=0.05)
    assert ends["audio"] == pytest.approx(1.5, abs=0.05)


def test_trim_on_a_keyframe_keeps_the_copy(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", duration=3.0, fps=25, extra_args=["-g", "25", "-keyint_min", "25"])
    result = render(tmp_path, clip, trim_start=1.0)
    ends = stream_durations(result.output)
    assert result.video_copied
    assert ends["video"] == pytest.approx(2.0, abs=0.05)
    assert ends["audio"] == pytest.approx(2.0, abs=0.05)


def test_titles_are_drawn_only_while_they_show(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", duration=3.0, size=(320, 240), cuts=[2.5])  # flat colours
    plain = render(tmp_path, clip, name="plain.mp4")
    text = "Urban: 'Dreams' 100% \\ 城市 {x}"
    titled = render(tmp_path, clip, name="titled.mp4", titles=[Title(text, 1.0, 1.0)])
    assert not titled.video_copied

    def changed_pixels(at: float) -> int:  # pixels made clearly brighter or darker by the title
        return int((np.abs(frame_at(plain.output, at) - frame_at(titled.output, at)) > 60).sum())

    assert changed_pixels(1.5) > 500  # white glyphs over a dark blue
    assert changed_pixels(0.5) == 0
    assert changed_pixels(2.7) == 0


def test_metadata_and_provenance_are_written_into_the_mp4(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", duration=1.0)
    tags = provenance_tags(style="lofi", tempo=84.0, key="A", mode="minor", seed=7, engine_version="9.9.9")
    result = render(tmp_path, clip, metadata=tags)
    facts = read_provenance(result.output)
    assert facts is not None and facts["seed"] == 7 and facts["style"] == "lofi"
    shown = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format_tags=comment", "-of",
                            "default=nw=1:nk=1", str(result.output)], capture_output=True, text=True).stdout
    assert "original composition" in shown


def test_progress_climbs_to_the_end(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", duration=2.0)
    seen: list[float] = []
    render(tmp_path, clip, progress=seen.append)
    assert seen and seen[-1] == 1.0
    assert seen == sorted(seen)


def test_ffmpeg_failure_is_one_friendly_line_without_paths(tmp_path):
    missing = tmp_path / "secret-name.mp4"
    with pytest.raises(EngineError) as caught:
        run_ffmpeg(["-i", str(missing), str(tmp_path / "x.mp4")], what="mix the music into the video")
    message = str(caught.value)
    assert message == "Could not mix the music into the video."
    assert "secret-name" not in message and "\n" not in message


def test_missing_ffmpeg_is_reported_as_a_missing_tool(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # a machine without ffmpeg
    with pytest.raises(ToolMissingError):
        run_ffmpeg(["-version"])


def test_trim_of_the_end_alone_keeps_the_copy(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", duration=3.0)
    result = render(tmp_path, clip, trim_end=1.6)
    ends = stream_durations(result.output)
    assert result.video_copied
    assert ends["video"] == pytest.approx(1.6, abs=0.05)
    assert ends["audio"] == pytest.approx(ends["video"], abs=0.05)


def test_hevc_is_copied_with_the_tag_apple_players_need(tmp_path):
    hevc = ["-c:v", "libx265", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-x265-params", "log-level=error"]
    clip = make_clip(tmp_path / "in.mp4", duration=1.0, video_codec=hevc)
    result = render(tmp_path, clip)
    assert result.video_copied
    with av.open(str(result.output)) as container:
        assert container.streams.video[0].codec_context.codec_tag == "hvc1"


def _decoded(path: Path) -> np.ndarray:
    out = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:a:0", "-f", "f32le", "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(out, dtype="<f4").reshape(-1, 2)


def test_sound_encoded_in_two_halves_plays_like_one_encode(tmp_path, monkeypatch):
    """Long clips have their AAC encoded as two halves on two cores; the join must not be heard
    and the sound must stay in sync: same length and start, the first half bit-identical, the
    second as close to the source as a one-piece encode, and no click where they meet."""
    import engine.mix

    clip = make_clip(tmp_path / "in.mp4", duration=4.0, audio="tone")
    monkeypatch.setattr(engine.mix, "PARALLEL_AAC_SECONDS", 1e9)
    render(tmp_path, clip, "whole.mp4")
    # The path a minute-long clip takes on a machine with a core to spare.
    monkeypatch.setattr(engine.mix, "PARALLEL_AAC_SECONDS", 1.0)
    monkeypatch.setattr(engine.mix, "_core_to_spare", lambda: True)
    halves = render(tmp_path, clip, "halves.mp4")

    whole, joined = _decoded(tmp_path / "whole.mp4"), _decoded(tmp_path / "halves.mp4")
    assert halves.video_copied
    assert len(joined) == len(whole)  # same priming skipped, same end
    assert stream(ffprobe(tmp_path / "halves.mp4"), "audio")["start_time"] == \
        stream(ffprobe(tmp_path / "whole.mp4"), "audio")["start_time"]
    # The halves meet on an AAC frame boundary; the frame before it overlaps the second half's first.
    frames = round(video_stream_end(clip, probe(clip)) * RATE)
    half = frames // 2 // 1024 * 1024
    assert np.array_equal(joined[: half - 1024], whole[: half - 1024])
    assert not np.array_equal(joined, whole)  # the second half really came from another encoder
    signal = np.sqrt(np.mean(whole**2))
    difference = np.sqrt(np.mean((joined - whole) ** 2))
    assert difference < signal * 10 ** (-30 / 20)  # two encodes of the same sound, not two sounds
    seam = joined[half - 2048: half + 2048] - whole[half - 2048: half + 2048]
    assert np.abs(seam).max() < 0.05 * np.abs(whole).max()  # no click at the join


def test_the_sound_is_split_over_two_cores_only_when_one_is_free(monkeypatch):
    import engine.mix

    monkeypatch.setattr(engine.mix.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(engine.mix.os, "getloadavg", lambda: (0.7, 0.5, 0.5))
    assert engine.mix._core_to_spare()
    monkeypatch.setattr(engine.mix.os, "getloadavg", lambda: (1.8, 1.5, 1.0))  # mostly this engine itself
    assert engine.mix._core_to_spare()
    monkeypatch.setattr(engine.mix.os, "getloadavg", lambda: (3.2, 2.0, 1.0))  # other work on both cores
    assert not engine.mix._core_to_spare()
    monkeypatch.setattr(engine.mix.os, "cpu_count", lambda: 1)
    monkeypatch.setattr(engine.mix.os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert not engine.mix._core_to_spare()
