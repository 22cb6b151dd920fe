"""The MIDI score: beats on cuts, sections, the ending, determinism, short and long clips."""

from dataclasses import replace

import mido
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.choose import choose_music, key_pitch_class
from engine.compose import compose
from engine.models import MusicPlan, SceneCut
from engine.styles import STYLES
from tests.engine.test_choose import make_analysis


def plan_for(style="upbeat", tempo=120.0, offset=0.0, seed=0, key="C", mode="major", drums=None, density=None):
    recipe = STYLES[style]
    return MusicPlan(
        style=style, mood=recipe.mood, tempo=tempo, key=key, mode=mode, instruments=dict(recipe.instruments),
        drums=recipe.drums if drums is None else drums, density=recipe.density if density is None else density,
        seed=seed, beat_offset=offset,
    )


def read_notes(path):
    """(start s, end s, channel, pitch) for every note, from the MIDI file as a player reads it."""
    now, sounding, notes = 0.0, {}, []
    for msg in mido.MidiFile(str(path)):
        now += msg.time
        if msg.type == "note_on" and msg.velocity > 0:
            sounding[(msg.channel, msg.note)] = now
        elif msg.type in ("note_off", "note_on"):
            start = sounding.pop((msg.channel, msg.note), None)
            if start is not None:
                notes.append((start, now, msg.channel, msg.note))
    assert not sounding, "every note is released"
    return notes


CUTS = (SceneCut(2.0, 0.9), SceneCut(4.0, 0.9), SceneCut(6.0, 0.9))


def test_cuts_land_on_beats_with_a_fitted_plan(tmp_path):
    analysis = make_analysis(duration=8.0, cuts=((2.0, 0.9), (4.0, 0.9), (6.0, 0.9)))
    for style in ("lofi", "cinematic", "upbeat", "ambient"):
        plan = choose_music(analysis, style=style)
        comp = compose(plan, analysis.cuts, 8.0, tmp_path / f"{style}.mid")
        assert comp.cuts_total == 3
        assert comp.cuts_on_beat >= 2, style
        assert comp.tempo == pytest.approx(plan.tempo, abs=0.01)


def test_beat_grid_and_downbeats(tmp_path):
    comp = compose(plan_for(tempo=120.0, offset=0.25), CUTS, 12.0, tmp_path / "a.mid")
    gaps = {round(b - a, 4) for a, b in zip(comp.beat_times, comp.beat_times[1:])}
    assert gaps == {0.5}
    assert comp.beat_times[0] == pytest.approx(0.25, abs=0.002)
    assert all(t < 12.0 for t in comp.beat_times)
    assert set(comp.downbeat_times) <= set(comp.beat_times)
    assert all(b - a == pytest.approx(2.0, abs=1e-3) for a, b in zip(comp.downbeat_times, comp.downbeat_times[1:]))
    # Bars start on the beat that catches the cuts: 2.0 is on a beat but 0.25 + k*0.5 never is,
    # so here no cut is on a beat and the count says so.
    assert comp.cuts_on_beat == 0


def test_downbeats_and_sections_follow_strong_cuts(tmp_path):
    # 100 BPM: beats every 0.6 s. A strong cut on beat 27 (16.2 s), weak cuts elsewhere.
    cuts = (SceneCut(3.0, 0.2), SceneCut(16.2, 1.0), SceneCut(30.0, 0.3))
    comp = compose(plan_for(tempo=100.0), cuts, 40.0, tmp_path / "a.mid")
    assert any(abs(d - 16.2) < 0.01 for d in comp.downbeat_times)
    assert any(abs(s - 16.2) < 0.01 for s in comp.section_starts)
    assert comp.section_starts[0] == 0.0


def test_ending_resolves_on_the_tonic_by_the_last_frame(tmp_path):
    for key, mode in (("C", "major"), ("F#", "minor"), ("Eb", "major")):
        for duration in (7.3, 31.0):
            plan = plan_for("lofi", tempo=84.0, key=key, mode=mode, offset=0.1)
            comp = compose(plan, CUTS, duration, tmp_path / "end.mid")
            notes = read_notes(comp.midi_path)
            assert max(end for _, end, _, _ in notes) <= duration
            final = [n for n in notes if n[1] >= duration - 0.1 and n[2] != 9]
            assert final, "a chord rings to the end"
            tonic = key_pitch_class(key)
            triad = {tonic, (tonic + (4 if mode == "major" else 3)) % 12, (tonic + 7) % 12}
            assert {p % 12 for *_, p in final} <= triad
            assert min(final, key=lambda n: n[3])[3] % 12 == tonic  # the bass sits on the tonic
            started = max(start for start, *_ in final)
            assert duration - started >= 0.9  # a real ring-out, not a blip
            assert started == pytest.approx(comp.section_starts[-1], abs=0.01)


def test_same_inputs_same_bytes_other_seed_other_notes(tmp_path):
    one = compose(plan_for(seed=5), CUTS, 20.0, tmp_path / "one.mid")
    two = compose(plan_for(seed=5), CUTS, 20.0, tmp_path / "two.mid")
    other = compose(plan_for(seed=6), CUTS, 20.0, tmp_path / "other.mid")
    assert one.midi_path.read_bytes() == two.midi_path.read_bytes()
    assert read_notes(one.midi_path) != read_notes(other.midi_path)


def test_one_second_clip(tmp_path):
    comp = compose(plan_for("cinematic", tempo=70.0), (), 1.0, tmp_path / "short.mid")
    notes = read_notes(comp.midi_path)
    assert notes and max(end for _, end, _, _ in notes) <= 1.0
    assert comp.cuts_total == 0 and comp.section_starts == (0.0,)
    tonic = key_pitch_class("C")
    assert min(n[3] for n in notes) % 12 == tonic


def test_ten_minute_clip_has_sections_that_vary(tmp_path):
    cuts = tuple(SceneCut(t * 7.3, 0.5 + 0.5 * (t % 3 == 0)) for t in range(1, 80))
    plan = choose_music(make_analysis(duration=600.0, cuts=tuple((c.time, c.strength) for c in cuts)), style="upbeat")
    comp = compose(plan, cuts, 600.0, tmp_path / "long.mid")
    notes = read_notes(comp.midi_path)
    assert max(end for _, end, _, _ in notes) <= 600.0
    assert len(comp.section_starts) >= 10
    assert comp.cuts_total == len(cuts)
    # Different sections play different material: compare the bass line in each section's first bar.
    bar = 4 * 60.0 / comp.tempo
    openings = set()
    for start in comp.section_starts[1:-1]:
        openings.add(tuple(sorted((round(s - start, 2), p) for s, _, ch, p in notes
                                  if ch != 9 and start <= s < start + bar)))
    assert len(openings) >= 3
    assert {9} <= {ch for _, _, ch, _ in notes}  # drums on channel 10


def test_drums_only_when_planned(tmp_path):
    with_drums = read_notes(compose(plan_for(drums=True), CUTS, 16.0, tmp_path / "d.mid").midi_path)
    without = read_notes(compose(plan_for(drums=False), CUTS, 16.0, tmp_path / "n.mid").midi_path)
    assert any(ch == 9 for _, _, ch, _ in with_drums)
    assert not any(ch == 9 for _, _, ch, _ in without)


def test_sparse_plan_plays_fewer_notes(tmp_path):
    busy = read_notes(compose(plan_for(density=0.9), CUTS, 30.0, tmp_path / "b.mid").midi_path)
    sparse = read_notes(compose(plan_for(density=0.15), CUTS, 30.0, tmp_path / "s.mid").midi_path)
    assert len(sparse) < len(busy)


def test_every_style_composes(tmp_path):
    for name in STYLES:
        lo, hi = STYLES[name].tempo_range
        plan = replace(plan_for(name, tempo=(lo + hi) / 2), mode=STYLES[name].mode)
        comp = compose(plan, CUTS, 12.0, tmp_path / f"{name}.mid")
        notes = read_notes(comp.midi_path)
        assert len(notes) > 10 and max(end for _, end, _, _ in notes) <= 12.0


def test_a_strong_cut_inside_a_bar_bends_the_bar_to_meet_it(tmp_path):
    # 120 BPM from 0 s: bars would start at 0, 2, 4, 6 ... A strong cut at 5.0 s (beat 10) sits mid-bar.
    cuts = (SceneCut(2.0, 0.9), SceneCut(5.0, 1.0), SceneCut(5.5, 0.3))
    comp = compose(plan_for(tempo=120.0), cuts, 20.0, tmp_path / "a.mid")
    assert any(abs(d - 5.0) < 0.01 for d in comp.downbeat_times)
    assert any(abs(d - 2.0) < 0.01 for d in comp.downbeat_times)
    lengths = [round((b - a) / 0.5) for a, b in zip(comp.downbeat_times, comp.downbeat_times[1:])]
    assert all(2 <= n <= 6 for n in lengths)
    assert lengths.count(4) >= len(lengths) - 1  # one odd bar, the groove otherwise steady
    assert any(abs(s - 5.0) < 0.01 for s in comp.section_starts)
    # A weak cut never bends the metre.
    weak = compose(plan_for(tempo=120.0), (SceneCut(2.0, 0.9), SceneCut(5.0, 0.3)), 20.0, tmp_path / "b.mid")
    assert not any(abs(d - 5.0) < 0.01 for d in weak.downbeat_times)


@settings(max_examples=30, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    duration=st.floats(min_value=0.2, max_value=90.0),
    style=st.sampled_from(sorted(STYLES)),
    tempo=st.floats(min_value=40.0, max_value=200.0),
    offset=st.floats(min_value=0.0, max_value=1.4),
    seed=st.integers(min_value=0, max_value=2**31),
    cuts=st.lists(st.tuples(st.floats(min_value=0.0, max_value=90.0), st.floats(min_value=0.0, max_value=1.0)),
                  max_size=40),
)
def test_any_clip_gets_a_score_that_ends_in_time(tmp_path, duration, style, tempo, offset, seed, cuts):
    plan = replace(plan_for(style, tempo=tempo, seed=seed), beat_offset=offset % (60.0 / tempo))
    comp = compose(plan, tuple(SceneCut(t, s) for t, s in cuts), duration, tmp_path / "any.mid")
    notes = read_notes(comp.midi_path)
    assert notes
    assert max(end for _, end, _, _ in notes) <= duration
    assert all(0 <= t < duration for t in comp.beat_times)
    assert comp.cuts_total == sum(1 for t, _ in cuts if t <= duration)
    assert 0 <= comp.cuts_on_beat <= comp.cuts_total
