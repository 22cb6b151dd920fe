"""Choosing the music from a clip's analysis and the user's words."""

from pathlib import Path

import pytest

from engine.choose import choose_music
from engine.errors import EngineError
from engine.models import AudioAnalysis, MediaInfo, SceneCut, VideoAnalysis
from engine.styles import STYLES


def make_analysis(
    duration: float = 10.0,
    *,
    brightness: float = 0.5,
    warmth: float = 0.0,
    motion: float = 0.3,
    cuts: tuple[tuple[float, float], ...] = (),
    speech: float = 0.0,
) -> VideoAnalysis:
    info = MediaInfo(
        path=Path("clip.mp4"), container="mov,mp4,m4a,3gp,3g2,mj2", duration=duration, width=320, height=240,
        rotation=0, fps=25.0, video_codec="h264", video_bitrate=None, has_audio=True, audio_codec="aac",
        audio_sample_rate=48000, audio_channels=2, size_bytes=100_000,
    )
    seconds = max(1, int(duration))
    return VideoAnalysis(
        info=info,
        brightness=(brightness,) * seconds,
        warmth=(warmth,) * seconds,
        motion=(motion,) * seconds,
        cuts=tuple(SceneCut(t, s) for t, s in cuts),
        audio=AudioAnalysis(present=True, loudness_lufs=-20.0, speech_ratio=speech,
                            speech_spans=((0.0, duration * speech),) if speech else ()),
    )


def on_beat_share(plan, cut_times):
    period = 60.0 / plan.tempo
    hits = 0
    for t in cut_times:
        dev = (t - plan.beat_offset) % period
        hits += min(dev, period - dev) <= 0.1
    return hits / len(cut_times)


def test_bright_lively_and_dark_still_clips_get_different_music():
    lively = choose_music(make_analysis(brightness=0.8, warmth=0.5, motion=0.8,
                                        cuts=tuple((t, 0.9) for t in range(1, 10))))
    still = choose_music(make_analysis(brightness=0.15, warmth=-0.5, motion=0.02))
    assert lively.mode == "major" and still.mode == "minor"
    assert lively.style != still.style
    assert lively.tempo > still.tempo
    assert lively.density > still.density
    assert any("clip" in r for r in still.reasons)


def test_explicit_style_beats_prompt_beats_analysis():
    analysis = make_analysis(brightness=0.8, warmth=0.5, motion=0.8)
    assert choose_music(analysis).style in ("upbeat", "happy")
    assert choose_music(analysis, prompt="sad piano").style == "piano"
    assert choose_music(analysis, prompt="悲伤").style == "sad"
    plan = choose_music(analysis, prompt="sad piano", style="cinematic")
    assert plan.style == "cinematic"
    assert plan.mood == "sad"  # the prompt still sets the mood
    assert choose_music(analysis, style="Lo-Fi").style == "lofi"
    assert any("asked" in r for r in plan.reasons)


def test_unknown_style_is_a_friendly_error():
    with pytest.raises(EngineError) as info:
        choose_music(make_analysis(), style="polka")
    assert "polka" in str(info.value) and "\n" not in str(info.value)


def test_tempo_fits_the_cuts_within_the_style_range():
    cuts = ((2.0, 1.0), (4.0, 1.0), (6.0, 1.0), (7.1, 0.8), (9.3, 0.4))
    plan = choose_music(make_analysis(cuts=cuts), style="lofi")
    lo, hi = STYLES["lofi"].tempo_range
    assert lo <= plan.tempo <= hi
    assert on_beat_share(plan, [2.0, 4.0, 6.0]) == 1.0
    assert 0.0 <= plan.beat_offset < 60.0 / plan.tempo


def test_irregular_cuts_still_land_mostly_on_beats():
    times = [1.37, 2.91, 4.46, 5.99, 9.07, 10.61, 13.7]  # a ~77.7 BPM edit with gaps
    plan = choose_music(make_analysis(duration=15.0, cuts=tuple((t, 0.9) for t in times)), style="lofi")
    assert on_beat_share(plan, times) >= 0.85


def test_explicit_tempo_is_honoured_and_phase_still_fitted():
    cuts = ((1.25, 1.0), (3.25, 1.0), (5.25, 1.0))
    plan = choose_music(make_analysis(cuts=cuts), style="upbeat", tempo=120)
    assert plan.tempo == 120
    assert on_beat_share(plan, [1.25, 3.25, 5.25]) == 1.0
    assert choose_music(make_analysis(), prompt="lofi at 95 bpm").tempo == 95


def test_pace_moves_tempo():
    analysis = make_analysis()
    slow = choose_music(analysis, prompt="lofi, slow")
    fast = choose_music(analysis, prompt="lofi, fast")
    assert slow.tempo < fast.tempo


def test_speech_makes_the_arrangement_sparser():
    quiet = choose_music(make_analysis(), style="upbeat")
    talky = choose_music(make_analysis(speech=0.8), style="upbeat")
    assert talky.density < quiet.density
    assert "lead" in quiet.instruments and "lead" not in talky.instruments
    assert any("speech" in r for r in talky.reasons)


def test_instrument_and_drum_wishes():
    plan = choose_music(make_analysis(), prompt="hip hop with piano, no drums")
    assert plan.style == "hiphop" and plan.drums is False
    assert plan.instruments["chords"] == 0


def test_deterministic_and_seed_varies_colour():
    analysis = make_analysis(cuts=((2.0, 1.0), (5.0, 0.5)))
    assert choose_music(analysis, seed=3) == choose_music(analysis, seed=3)
    plans = {(p.key, tuple(sorted(p.instruments.items()))) for p in (choose_music(analysis, seed=s) for s in range(8))}
    assert len(plans) > 1
    assert len({choose_music(analysis, seed=s).style for s in range(8)}) == 1  # seed never changes the style
