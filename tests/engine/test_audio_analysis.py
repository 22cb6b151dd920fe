"""Audio analysis on real clips: BS.1770 loudness against ffmpeg's ebur128, speech vs tone."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from engine.audio_analysis import analyse_audio, integrated_loudness
from engine.probe import probe
from tests.clips import make_clip


def _ffmpeg_lufs(path: Path) -> float:
    out = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostats", "-i", str(path), "-af", "ebur128", "-f", "null", "-"],
        capture_output=True, text=True, check=True).stderr
    return float(re.findall(r"I:\s+(-?[\d.]+) LUFS", out)[-1])


@pytest.mark.parametrize("kind", ["tone", "speech"])
def test_loudness_matches_ffmpeg_ebur128(tmp_path: Path, kind: str) -> None:
    clip = make_clip(tmp_path / f"{kind}.mp4", duration=3.0, audio=kind)
    result = analyse_audio(clip, probe(clip))
    assert result.present and result.loudness_lufs is not None
    assert result.loudness_lufs == pytest.approx(_ffmpeg_lufs(clip), abs=0.5)


def test_stereo_loudness_matches_ffmpeg(tmp_path: Path) -> None:
    clip = tmp_path / "stereo.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=64x48:d=3", "-f", "lavfi",
                    "-i", "sine=f=220:d=3,aformat=channel_layouts=stereo", "-c:v", "libx264",
                    "-preset", "ultrafast", "-c:a", "pcm_s16le", "-shortest", str(clip)], check=True)
    info = probe(clip)
    assert info.audio_channels == 2
    assert analyse_audio(clip, info).loudness_lufs == pytest.approx(_ffmpeg_lufs(clip), abs=0.5)


def test_speech_clip_sounds_more_like_speech_than_a_tone(tmp_path: Path) -> None:
    speech = make_clip(tmp_path / "speech.mp4", duration=3.0, audio="speech")
    tone = make_clip(tmp_path / "tone.mp4", duration=3.0, audio="tone")
    talk = analyse_audio(speech, probe(speech))
    hum = analyse_audio(tone, probe(tone))
    assert talk.speech_ratio > 0.6 > 0.2 > hum.speech_ratio
    assert talk.speech_spans and not hum.speech_spans
    start, end = talk.speech_spans[0]
    assert start < 0.5 and end > 2.5


def test_silence_and_no_audio(tmp_path: Path) -> None:
    silent = make_clip(tmp_path / "silent.mp4", audio="silence")
    result = analyse_audio(silent, probe(silent))
    assert result.present and result.loudness_lufs is None and result.speech_ratio == 0.0
    mute = make_clip(tmp_path / "mute.mp4", audio=None)
    assert not analyse_audio(mute, probe(mute)).present


def test_integrated_loudness_on_samples() -> None:
    rate = 48000
    t = np.arange(rate * 2) / rate
    full_scale_1k = np.sin(2 * np.pi * 1000 * t)
    # BS.1770: a 0 dBFS 1 kHz sine in one channel reads -3.01 LUFS.
    assert integrated_loudness(full_scale_1k, rate) == pytest.approx(-3.01, abs=0.1)
    quieter = integrated_loudness(0.1 * full_scale_1k, rate)
    assert quieter == pytest.approx(-23.01, abs=0.1)
    assert integrated_loudness(np.zeros(rate), rate) is None
    assert integrated_loudness(np.zeros(0), rate) is None
