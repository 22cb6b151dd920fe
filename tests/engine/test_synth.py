"""Rendering the score with the real FluidSynth and soundfont."""

import wave
from pathlib import Path

import numpy as np
import pytest

from engine.compose import compose
from engine.errors import EngineError, ToolMissingError
from engine.models import SceneCut
from engine.synth import find_soundfont, stream_music, synthesise
from tests.engine.test_compose import plan_for


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as wav:
        rate = wav.getframerate()
        data = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, wav.getnchannels())
    return data.astype(np.float64) / 32768.0, rate


@pytest.mark.parametrize("duration", [1.0, 4.37])
def test_render_is_exactly_as_long_as_the_clip_and_audible(tmp_path, duration):
    comp = compose(plan_for("upbeat", tempo=120.0), (SceneCut(2.0, 0.9),), duration, tmp_path / "m.mid")
    out = synthesise(comp.midi_path, tmp_path / "m.wav", duration=duration)
    audio, rate = read_wav(out)
    assert rate == 48000 and audio.shape[1] == 2
    assert abs(audio.shape[0] / rate - duration) <= 0.01
    rms = np.sqrt(np.mean(audio**2))
    assert rms > 0.005  # clearly audible
    assert np.abs(audio).max() < 1.0  # no clipping at our gain
    assert np.abs(audio[-10:]).max() < 0.01  # faded to silence, no click at the end
    assert not list(tmp_path.glob(".render-*")), "temporary render removed"


def test_other_sample_rate(tmp_path):
    comp = compose(plan_for("piano", tempo=80.0), (), 2.0, tmp_path / "m.mid")
    audio, rate = read_wav(synthesise(comp.midi_path, tmp_path / "m.wav", duration=2.0, sample_rate=44100))
    assert rate == 44100 and audio.shape[0] == 88200


def test_find_soundfont_order(tmp_path, monkeypatch):
    mine = tmp_path / "mine.sf2"
    mine.write_bytes(b"x")
    env = tmp_path / "env.sf2"
    env.write_bytes(b"x")
    monkeypatch.setenv("AIWM_SOUNDFONT", str(env))
    assert find_soundfont(mine) == mine
    assert find_soundfont(tmp_path / "missing.sf2") == env
    monkeypatch.delenv("AIWM_SOUNDFONT")
    assert find_soundfont(None).is_file()  # the Debian default installed on this machine


def test_missing_soundfont_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.delenv("AIWM_SOUNDFONT", raising=False)
    monkeypatch.setattr("engine.synth.SOUNDFONT_PATHS", ())
    with pytest.raises(ToolMissingError) as info:
        find_soundfont(tmp_path / "nope.sf2")
    assert "apt-get install timgm6mb-soundfont" in str(info.value)


def test_missing_fluidsynth_is_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    comp = compose(plan_for(), (), 1.0, tmp_path / "m.mid")
    with pytest.raises(ToolMissingError) as info:
        synthesise(comp.midi_path, tmp_path / "m.wav", duration=1.0)
    assert "fluidsynth" in str(info.value).lower()


def test_broken_midi_is_a_friendly_error(tmp_path):
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"not a midi file at all")
    with pytest.raises(EngineError) as info:
        synthesise(bad, tmp_path / "out.wav", duration=1.0)
    assert "\n" not in str(info.value) and str(tmp_path) not in str(info.value)
    assert not (tmp_path / "out.wav").exists()


def test_stream_gives_the_same_audio_in_exact_blocks(tmp_path):
    comp = compose(plan_for("lofi", tempo=80.0), (SceneCut(1.5, 0.9),), 3.21, tmp_path / "m.mid")
    blocks = list(stream_music(comp.midi_path, duration=3.21, chunk_frames=10_000))
    assert len(blocks) > 2 and all(b.shape[1] == 2 for b in blocks)
    streamed = np.concatenate(blocks)
    assert streamed.shape[0] == round(3.21 * 48000)
    audio, _ = read_wav(synthesise(comp.midi_path, tmp_path / "m.wav", duration=3.21))
    assert np.array_equal(streamed.astype(np.float64) / 32768.0, audio)


def test_score_shorter_than_the_clip_is_padded_with_silence(tmp_path):
    comp = compose(plan_for("piano", tempo=90.0), (), 2.0, tmp_path / "m.mid")
    audio, rate = read_wav(synthesise(comp.midi_path, tmp_path / "m.wav", duration=30.0))
    assert audio.shape[0] == 30 * rate
    assert np.sqrt(np.mean(audio[: rate] ** 2)) > 0.005
    assert np.abs(audio[-rate:]).max() < 0.01
