"""The sound of the output: levels, ducking, loudness and true peak, measured on real files."""

from __future__ import annotations

import re
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from engine.audio_analysis import integrated_loudness
from engine.mix import ClipSound, duck, mix_and_mux, mix_audio
from engine.probe import probe
from tests.clips import make_clip

RATE = 48000


def write_wav(path: Path, samples: np.ndarray) -> Path:
    """16-bit stereo WAV at 48 kHz, like the synthesiser writes."""
    if samples.ndim == 1:
        samples = np.stack([samples, samples], axis=1)
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(pcm.tobytes())
    return path


def tone(seconds: float, freq: float, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (level * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def punchy_music(seconds: float) -> np.ndarray:
    """A soft chord with short full-scale hits every half second: so much crest that at -14 LUFS
    the hits would peak well over 0 dBFS, so the limiter must catch them."""
    t = np.arange(int(seconds * RATE)) / RATE
    chord = 0.03 * (np.sin(2 * np.pi * 220 * t) + np.sin(2 * np.pi * 277 * t) + np.sin(2 * np.pi * 330 * t))
    hits = 0.9 * np.exp(-((t % 0.5) * 120.0)) * np.sin(2 * np.pi * 1500 * t)
    return (chord + hits).astype(np.float32)


def measure(path: Path) -> tuple[float, float]:
    """(integrated LUFS, true peak dBTP) of a file's sound, by ffmpeg's own EBU R128 meter."""
    result = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostats", "-i", str(path), "-map", "0:a:0",
         "-af", "ebur128=peak=true:framelog=verbose", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    )
    summary = result.stderr[result.stderr.rfind("Summary:"):]
    loudness = float(re.search(r"I:\s+(-?[\d.]+|-inf) LUFS", summary).group(1))
    peak = float(re.search(r"Peak:\s+(-?[\d.]+|-inf) dBFS", summary).group(1))
    return loudness, peak


def decode(path: Path) -> np.ndarray:
    out = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:a:0", "-ac", "2", "-ar", str(RATE),
                          "-f", "f32le", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(out, dtype="<f4").reshape(-1, 2)


def amplitude_at(samples: np.ndarray, freq: float, start: float, end: float) -> float:
    """Amplitude of one sine component in a window (a single-bin Fourier projection)."""
    part = samples[int(start * RATE): int(end * RATE), 0].astype(np.float64)
    t = np.arange(len(part)) / RATE
    return 2 * abs(np.mean(part * np.exp(-2j * np.pi * freq * t)))


def render(tmp_path: Path, clip: Path, music: np.ndarray, **options):
    wav = write_wav(tmp_path / "music.wav", music)
    info = probe(clip)
    options.setdefault("music_volume", 0.35)
    options.setdefault("has_original_audio", info.has_audio)
    result = mix_and_mux(clip, wav, tmp_path / "out.mp4", info=info, **options)
    return result, info


def test_output_has_stereo_aac_at_48k_and_the_video_length(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", duration=2.0, audio="tone")
    result, info = render(tmp_path, clip, punchy_music(2.0))
    out = probe(result.output)
    assert out.audio_codec == "aac"
    assert out.audio_sample_rate == 48000
    assert out.audio_channels == 2
    assert abs(out.duration - info.duration) < 0.05


@pytest.mark.parametrize("target", [-14.0, -20.0])
def test_loudness_hits_the_target_and_true_peak_stays_under_the_ceiling(tmp_path, target):
    clip = make_clip(tmp_path / "in.mp4", duration=3.0, audio="speech")
    result, _ = render(tmp_path, clip, punchy_music(3.0), music_volume=0.8, loudness_lufs=target)
    loudness, peak = measure(result.output)
    assert abs(loudness - target) <= 1.0
    assert peak <= -1.0 + 0.2
    assert abs(result.loudness_lufs - target) <= 0.5  # what we report is what we made


def test_a_clip_without_sound_gets_the_music_at_full_level(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", duration=2.0, audio=None)
    result, _ = render(tmp_path, clip, tone(2.0, 330, 0.05), music_volume=1.0, has_original_audio=False)
    loudness, peak = measure(result.output)
    assert probe(result.output).audio_codec == "aac"
    assert abs(loudness - -14.0) <= 1.0
    assert peak <= -0.8


def test_a_silent_soundtrack_is_replaced_by_the_music(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", duration=2.0, audio="silence")
    result, _ = render(tmp_path, clip, tone(2.0, 330, 0.05), music_volume=1.0, has_original_audio=True)
    loudness, _ = measure(result.output)
    assert abs(loudness - -14.0) <= 1.0


def test_music_sits_under_the_original_sound_at_the_asked_share(tmp_path):
    # Original: a 440 Hz tone (from the clip). Music: a 1 kHz tone. Both read apart by frequency.
    clip = make_clip(tmp_path / "in.mp4", duration=3.0, audio="tone")
    result, _ = render(tmp_path, clip, tone(3.0, 1000, 0.5), music_volume=0.35)
    mixed = decode(result.output)
    ratio_db = 20 * np.log10(amplitude_at(mixed, 1000, 1.0, 2.0) / amplitude_at(mixed, 440, 1.0, 2.0))
    assert ratio_db == pytest.approx(20 * np.log10(0.35), abs=1.5)


def test_music_ducks_while_someone_speaks(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", duration=4.0, audio="tone")
    result, _ = render(tmp_path, clip, tone(4.0, 1000, 0.5), music_volume=0.5, speech_spans=[(1.5, 2.6)])
    mixed = decode(result.output)
    before = amplitude_at(mixed, 1000, 0.6, 1.1)
    during = amplitude_at(mixed, 1000, 1.8, 2.5)
    after = amplitude_at(mixed, 1000, 3.15, 3.35)
    assert 20 * np.log10(during / before) == pytest.approx(-8.0, abs=1.5)
    assert after == pytest.approx(before, rel=0.15)  # it comes back up
    # The clip's own sound is not ducked.
    assert amplitude_at(mixed, 440, 1.8, 2.5) == pytest.approx(amplitude_at(mixed, 440, 0.6, 1.1), rel=0.1)


def test_ducking_ramps_smoothly_and_reports_its_gain():
    music = np.ones((3 * RATE, 2), dtype=np.float32)
    per_ms = duck(music, [(1.0, 2.0)])
    curve = music[:, 0]
    assert np.abs(np.diff(curve)).max() < 0.001  # no clicks: at most a thousandth per sample
    assert curve[int(1.5 * RATE)] == pytest.approx(10 ** (-8 / 20), rel=0.01)
    assert curve[int(0.2 * RATE)] == 1.0 and curve[int(2.8 * RATE)] == 1.0
    assert len(per_ms) == 3000
    assert per_ms[1500] == pytest.approx(curve[int(1.5005 * RATE)], rel=0.001)


def test_music_fades_in_and_out(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", duration=4.0, audio=None)
    result, _ = render(tmp_path, clip, tone(4.0, 1000, 0.3), music_volume=1.0, has_original_audio=False)
    mixed = decode(result.output)
    middle = amplitude_at(mixed, 1000, 1.5, 2.5)
    assert amplitude_at(mixed, 1000, 0.0, 0.1) < 0.5 * middle
    assert amplitude_at(mixed, 1000, 3.9, 4.0) < 0.2 * middle


def test_mix_audio_agrees_with_the_independent_loudness_meter():
    music = np.stack([punchy_music(4.0)] * 2, axis=1)
    original = np.stack([tone(4.0, 180, 0.05)] * 2, axis=1)
    # Plain gain to -16 LUFS would put the hits over 0 dBFS: only the limiter keeps them under.
    plain_gain_db = -16.0 - integrated_loudness(music + original, RATE)
    assert 20 * np.log10(np.abs(music + original).max()) + plain_gain_db > 0.0
    mixed, loudness, peak_db = mix_audio(music, original, music_volume=1.0, target_lufs=-16.0, ceiling_db=-2.0)
    assert integrated_loudness(mixed, RATE) == pytest.approx(-16.0, abs=0.3)
    assert loudness == pytest.approx(-16.0, abs=0.3)
    assert peak_db <= -2.0 + 0.05
    assert 20 * np.log10(np.abs(mixed).max()) <= -2.0 + 0.05


@pytest.mark.parametrize("music_seconds", [1.0, 3.5])
def test_music_of_another_length_is_cut_or_padded_to_the_video(tmp_path, music_seconds):
    # FluidSynth renders a release tail past the end; a short render must not shorten the video.
    clip = make_clip(tmp_path / "in.mp4", duration=2.0, audio="tone")
    result, info = render(tmp_path, clip, tone(music_seconds, 1000, 0.3))
    out = probe(result.output)
    assert abs(out.duration - info.duration) < 0.05


def test_the_clip_sound_decoded_ahead_gives_the_same_mix(tmp_path):
    """The pipeline starts decoding the clip's sound before the music exists; the result must be
    the very mix that decoding it inside mix_and_mux gives, trims included."""
    clip = make_clip(tmp_path / "in.mp4", duration=3.0, audio="speech")
    info = probe(clip)
    wav = write_wav(tmp_path / "music.wav", tone(2.0, 440.0))
    options = dict(info=info, music_volume=0.5, has_original_audio=True, trim_start=0.5, trim_end=2.5)

    plain = mix_and_mux(clip, wav, tmp_path / "plain.mp4", **options)
    work = tmp_path / "work"
    work.mkdir()
    with ClipSound(clip, info, work, trim_start=0.5, trim_end=2.5) as ahead:
        early = mix_and_mux(clip, wav, tmp_path / "early.mp4", clip_sound=ahead, **options)

    assert early.loudness_lufs == plain.loudness_lufs and early.true_peak_db == plain.true_peak_db
    assert np.array_equal(decode(tmp_path / "early.mp4"), decode(tmp_path / "plain.mp4"))
    assert abs(len(decode(tmp_path / "early.mp4")) / RATE - 2.0) < 0.05


def test_a_clip_sound_nobody_waits_for_is_stopped_and_leaves_nothing(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", duration=2.0, audio="tone")
    work = tmp_path / "work"
    work.mkdir()
    sound = ClipSound(clip, probe(clip), work)
    sound.close()  # e.g. the analysis failed before the mix began
    assert sound._process is None or sound._process.poll() is not None
    with ClipSound(clip, probe(clip), work) as ready:
        assert ready.wait() and ready.path.stat().st_size == ready.frames * 8
