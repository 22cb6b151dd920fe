"""Write a multi-track MIDI score that fits a clip.

The beat grid comes from the plan (tempo + beat_offset, fitted to the cuts by choose.py). Bars
start on the beat that catches most cut weight; sections begin on downbeats next to the
strongest cuts; an intro, A/B/bridge sections with different energy, a cadence and a final tonic
chord that rings out and stops by `duration`. Same plan + cuts + duration -> identical bytes.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import mido

from engine.choose import BEAT_TOLERANCE, key_pitch_class, stable_rng
from engine.errors import EngineError
from engine.models import Composition, MusicPlan, SceneCut
from engine.styles import STYLES, Style

TPB = 480  # ticks per beat
BEATS_PER_BAR = 4
END_MARGIN = 0.02  # seconds: the last note-off lands this much before the video ends
DRUM_CHANNEL = 9  # MIDI channel 10

SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
CHANNELS = {"chords": 0, "arp": 1, "pad": 2, "bass": 3, "lead": 4}
VOLUMES = {"chords": 88, "arp": 84, "pad": 68, "bass": 100, "lead": 92, "drums": 96}
PANS = {"chords": 52, "arp": 76, "pad": 64, "bass": 64, "lead": 64, "drums": 64}
COSTLY_PADS = {48, 49, 50, 51, 88, 90}  # 3-5x the render cost of a piano note in TimGM6mb
REVERB = {"chords": 40, "arp": 50, "pad": 70, "bass": 10, "lead": 55, "drums": 25}

# Four-bar progressions as scale degrees (0 = tonic). Cadences are added at the end separately.
PROGRESSIONS = {
    "major": [(0, 4, 5, 3), (0, 5, 3, 4), (5, 3, 0, 4), (0, 3, 5, 4), (3, 0, 4, 5), (0, 2, 3, 4), (1, 4, 0, 5)],
    "minor": [(0, 5, 2, 6), (0, 3, 5, 4), (0, 6, 5, 6), (5, 6, 0, 0), (0, 3, 6, 2), (0, 5, 3, 4)],
}

# Lead rhythms over two bars: (start beat, length in beats). Picked by energy.
RHYTHMS = {
    "sparse": [((0, 2), (2, 1), (3, 1), (4, 3)), ((0, 3), (3, 1), (4, 4)), ((1, 1), (2, 2), (4, 4)),
               ((0, 1.5), (1.5, 2.5), (4, 2), (6, 2))],
    "medium": [((0, 1), (1, 0.5), (1.5, 0.5), (2, 1), (3, 1), (4, 1.5), (5.5, 0.5), (6, 2)),
               ((0, 1.5), (1.5, 0.5), (2, 1), (3, 1), (4, 2), (6, 1), (7, 1)),
               ((0.5, 0.5), (1, 1), (2, 1), (3, 0.5), (3.5, 0.5), (4, 3)),
               ((0, 1), (1, 1), (2, 1.5), (3.5, 0.5), (4, 1), (5, 1), (6, 2))],
    "busy": [((0, 0.5), (0.5, 0.5), (1, 0.5), (1.5, 0.5), (2, 1), (3, 0.5), (3.5, 0.5), (4, 0.5), (4.5, 0.5),
              (5, 1), (6, 1.5), (7.5, 0.5)),
             ((0, 0.75), (0.75, 0.75), (1.5, 0.5), (2, 1), (3, 1), (4, 0.75), (4.75, 0.75), (5.5, 0.5), (6, 2)),
             ((0, 1), (1, 0.5), (1.5, 0.5), (2, 0.5), (2.5, 0.5), (3, 1), (4, 1), (5, 0.5), (5.5, 0.5), (6, 2))],
}

# Drum kits: level -> list of (16th step, GM drum note, velocity 0..1).
KICK, SNARE, STICK, CLAP, HAT, OPEN_HAT, CRASH, RIDE, SHAKER, TAMB = 36, 38, 37, 39, 42, 46, 49, 51, 70, 54
LOW_TOM, MID_TOM, HIGH_TOM = 45, 47, 50
_EIGHTHS = range(0, 16, 2)
KITS: dict[str, dict[str, list[tuple[int, int, float]]]] = {
    "pop": {
        "light": [(0, KICK, 0.9), (8, KICK, 0.8), (4, STICK, 0.6), (12, STICK, 0.6)] + [(s, HAT, 0.45) for s in _EIGHTHS],
        "full": [(0, KICK, 1.0), (8, KICK, 0.9), (10, KICK, 0.7), (4, SNARE, 0.95), (12, SNARE, 0.95)]
        + [(s, HAT, 0.6 if s % 4 == 0 else 0.45) for s in _EIGHTHS if s != 14] + [(14, OPEN_HAT, 0.5)],
    },
    "four": {
        "light": [(s, KICK, 0.9) for s in (0, 4, 8, 12)] + [(s, HAT, 0.5) for s in (2, 6, 10, 14)],
        "full": [(s, KICK, 1.0) for s in (0, 4, 8, 12)] + [(4, CLAP, 0.9), (12, CLAP, 0.9)]
        + [(s, OPEN_HAT, 0.55) for s in (2, 6, 10, 14)] + [(s, HAT, 0.35) for s in range(1, 16, 2)],
    },
    "boom": {
        "light": [(0, KICK, 0.9), (10, KICK, 0.7), (4, SNARE, 0.7), (12, SNARE, 0.7)] + [(s, HAT, 0.4) for s in _EIGHTHS],
        "full": [(0, KICK, 1.0), (7, KICK, 0.7), (10, KICK, 0.85), (4, SNARE, 1.0), (12, SNARE, 1.0)]
        + [(s, HAT, 0.6 if s % 4 == 0 else 0.4) for s in _EIGHTHS] + [(15, HAT, 0.3)],
    },
    "lofi": {
        "light": [(0, KICK, 0.75), (10, KICK, 0.6), (4, STICK, 0.55), (12, STICK, 0.55)] + [(s, HAT, 0.3) for s in _EIGHTHS],
        "full": [(0, KICK, 0.85), (7, KICK, 0.5), (10, KICK, 0.7), (4, SNARE, 0.7), (12, SNARE, 0.7)]
        + [(s, HAT, 0.42 if s % 4 == 0 else 0.3) for s in _EIGHTHS],
    },
    "brush": {
        "light": [(s, SHAKER, 0.45 if s % 4 == 0 else 0.3) for s in _EIGHTHS] + [(0, KICK, 0.55)],
        "full": [(0, KICK, 0.75), (8, KICK, 0.65), (4, STICK, 0.7), (12, STICK, 0.7)]
        + [(s, SHAKER, 0.5 if s % 4 == 0 else 0.35) for s in _EIGHTHS],
    },
    "cinematic": {
        "light": [(0, KICK, 0.8), (8, LOW_TOM, 0.6)],
        "full": [(0, KICK, 1.0), (6, LOW_TOM, 0.7), (8, KICK, 0.8), (11, MID_TOM, 0.7), (12, SNARE, 0.8),
                 (14, LOW_TOM, 0.75)] + [(s, HAT, 0.3) for s in (2, 6, 10)],
    },
}


@dataclass
class _Part:
    """One instrument's notes and controller changes, in ticks."""

    role: str
    channel: int
    program: int
    notes: list[tuple[int, int, int, int]] = field(default_factory=list)  # (start, end, pitch, velocity)
    controls: list[tuple[int, int, int]] = field(default_factory=list)  # (tick, controller, value)

    def note(self, start: int, end: int, pitch: int, velocity: float) -> None:
        if end > start and 0 <= pitch <= 127:
            self.notes.append((start, end, pitch, max(1, min(127, int(round(velocity))))))


@dataclass(frozen=True)
class _Section:
    kind: str  # intro, A, B, C
    first_bar: int
    bars: int
    energy: float  # 0..1
    at_cut: bool


class _Harmony:
    """Scale-degree chords in the plan's key."""

    def __init__(self, tonic_pc: int, mode: str, sevenths: bool):
        self.tonic_pc = tonic_pc
        self.mode = mode
        self.scale = SCALES[mode]
        self.sevenths = sevenths

    def chord(self, degree: int, *, dominant: bool = False, seventh: bool | None = None) -> list[int]:
        """Semitones above the tonic of the chord on `degree` (root first)."""
        size = 4 if (self.sevenths if seventh is None else seventh) else 3
        tones = []
        for i in range(size):
            step = degree + 2 * i
            semis = self.scale[step % 7] + 12 * (step // 7)
            if dominant and self.mode == "minor" and step % 7 == 6:
                semis += 1  # harmonic minor: a major V that pulls home
            tones.append(semis)
        return tones

    def degrees(self, degree: int) -> set[int]:
        return {(degree + 2 * i) % 7 for i in range(3)}

    def pitch(self, index: int, base: int) -> int:
        """Pitch of scale step `index` above the tonic at MIDI `base` (base is a tonic)."""
        return base + self.scale[index % 7] + 12 * (index // 7)


def _voice(harmony: _Harmony, chord: list[int], low: int, high: int, previous: list[int] | None) -> list[int]:
    """Place chord tones between low and high, close to the previous voicing (smooth movement)."""
    pcs = [(harmony.tonic_pc + s) % 12 for s in chord]
    options = []
    for rotation in range(len(pcs)):
        order = pcs[rotation:] + pcs[:rotation]
        start = low + (order[0] - low) % 12
        voiced = [start]
        for pc in order[1:]:
            voiced.append(voiced[-1] + (pc - voiced[-1]) % 12)
        if voiced[-1] <= high:
            options.append(voiced)
    if not options:
        start = low + (pcs[0] - low) % 12
        options = [[start + (pc - start) % 12 for pc in pcs]]
    centre = (low + high) / 2
    if previous:
        prev_mean = sum(previous) / len(previous)
        return min(options, key=lambda v: (abs(sum(v) / len(v) - prev_mean), v))
    return min(options, key=lambda v: (abs(sum(v) / len(v) - centre), v))


class _Score:
    """Builds the parts bar by bar."""

    def __init__(self, plan: MusicPlan, recipe: Style, bars: list[tuple[int, int]], end_tick: int):
        self.plan = plan
        self.recipe = recipe
        self.bars = bars  # (start tick, beats) per bar; mostly 4 beats, a few 2-6 to meet strong cuts
        self.end_tick = end_tick
        self.harmony = _Harmony(key_pitch_class(plan.key), plan.mode, recipe.sevenths)
        self.rng = stable_rng(plan.seed, "compose", plan.style, plan.key, plan.mode)
        self.swing_ticks = int(recipe.swing * TPB / 2)
        self.parts: dict[str, _Part] = {
            role: _Part(role, CHANNELS[role], program) for role, program in plan.instruments.items() if role in CHANNELS
        }
        self.drums = _Part("drums", DRUM_CHANNEL, 0) if plan.drums else None
        self.voicing: dict[str, list[int] | None] = {role: None for role in self.parts}
        # The melody's tonic sits between D4 and C#5, so the tune lies above the chords (G3-E5).
        self.lead_base = 60 + self.harmony.tonic_pc if self.harmony.tonic_pc >= 2 else 72 + self.harmony.tonic_pc

    # --- helpers -----------------------------------------------------------------------------
    def bar_start(self, bar: int) -> int:
        if bar < len(self.bars):
            return self.bars[bar][0]
        last_start, last_beats = self.bars[-1]
        return last_start + (last_beats + (bar - len(self.bars)) * BEATS_PER_BAR) * TPB

    def beats(self, bar: int) -> int:
        return self.bars[bar][1] if bar < len(self.bars) else BEATS_PER_BAR

    def at(self, bar: int, beat: float) -> int:
        tick = self.bar_start(bar) + int(round(beat * TPB))
        # Swing: off-beat eighths (and sixteenths, by half) come a little late.
        within = int(round(beat * TPB)) % TPB
        if self.swing_ticks and within == TPB // 2:
            tick += self.swing_ticks
        elif self.swing_ticks and within in (TPB // 4, 3 * TPB // 4):
            tick += self.swing_ticks // 2
        return tick

    def velocity(self, energy: float, accent: float = 1.0) -> float:
        jitter = self.rng.uniform(-5, 5)
        return self.recipe.velocity * (0.72 + 0.38 * energy) * accent + jitter

    # --- instruments -------------------------------------------------------------------------
    def harmony_bar(self, bar: int, chord: list[int], energy: float, *, hold_to: int | None = None) -> None:
        for role in ("chords", "pad", "arp"):
            part = self.parts.get(role)
            if part is None:
                continue
            if role == "pad":
                # Costly sustained sounds hold the third and fifth only (the bass has the root).
                tones = chord[1:3] if part.program in COSTLY_PADS else chord[:3]
                voiced = _voice(self.harmony, tones, 52, 69, self.voicing[role])
                self.voicing[role] = voiced
                end = hold_to or self.bar_start(bar + 1)
                for p in voiced:
                    part.note(self.bar_start(bar), end, p, self.velocity(energy, 0.8))
            elif role == "chords":
                voiced = _voice(self.harmony, chord, 55, 76, self.voicing[role])
                self.voicing[role] = voiced
                self._comp(part, bar, voiced, energy, hold_to)
            else:
                voiced = _voice(self.harmony, chord, 52, 74, self.voicing[role])
                self.voicing[role] = voiced
                self._arpeggio(part, bar, voiced, energy, hold_to)

    def _comp(self, part: _Part, bar: int, voiced: list[int], energy: float, hold_to: int | None) -> None:
        pattern = self.recipe.chord_pattern
        if hold_to is not None or pattern in ("hold", "arp"):
            hits = [(0.0, 4.0, 1.0)]
        elif pattern == "strum":
            hits = [(0, 1, 1.0), (1, 0.5, 0.8), (1.5, 1, 0.75), (2.5, 0.5, 0.8), (3, 0.5, 0.9), (3.5, 0.5, 0.75)]
            if energy < 0.45:
                hits = [(0, 2, 1.0), (2, 1.5, 0.85), (3.5, 0.5, 0.7)]
        elif pattern == "stabs":
            hits = [(0, 0.45, 1.0), (0.5, 0.4, 0.7), (1.5, 0.4, 0.8), (2.5, 0.4, 0.8), (3, 0.45, 0.9), (3.5, 0.4, 0.7)]
            if energy < 0.5:
                hits = [(0, 2, 1.0), (2, 2, 0.85)]
        else:  # comp
            hits = [(0, 1.5, 1.0), (1.5, 1, 0.8), (2.5, 1.5, 0.85)]
            if energy < 0.45:
                hits = [(0, 2.5, 1.0), (2.5, 1.5, 0.8)]
        strum = 12 if pattern == "strum" else 0
        for beat, length, accent in _fit_hits(hits, self.beats(bar)):
            start = self.at(bar, beat)
            end = hold_to if hold_to is not None else self.at(bar, beat + length) - 10
            vel = self.velocity(energy, accent * 0.9)
            for i, p in enumerate(voiced):
                part.note(start + i * strum, end, p, vel)

    def _arpeggio(self, part: _Part, bar: int, voiced: list[int], energy: float, hold_to: int | None) -> None:
        tones = voiced + [voiced[0] + 12, voiced[1] + 12]
        if hold_to is not None:  # a rolled final chord
            for i, p in enumerate(tones[:5]):
                part.note(self.bar_start(bar) + i * TPB // 6, hold_to, p, self.velocity(energy, 0.85))
            return
        step = 0.5 if energy >= 0.35 else 1.0
        order = [0, 1, 2, 3, 4, 3, 2, 1] if step == 0.5 else [0, 1, 2, 4]
        count = int(self.beats(bar) / step)
        order = (order * 2)[:count]
        beat = 0.0
        for idx in order:
            start = self.at(bar, beat)
            end = min(self.bar_start(bar + 1), start + int(TPB * max(1.0, step * 2)))
            part.note(start, end, tones[idx % len(tones)], self.velocity(energy, 0.8 if idx else 0.95))
            beat += step

    def bass_bar(self, bar: int, chord: list[int], energy: float, *, hold_to: int | None = None) -> None:
        part = self.parts.get("bass")
        if part is None:
            return
        root_pc = (self.harmony.tonic_pc + chord[0]) % 12
        root = 36 + (root_pc - 0) % 12
        if root > 45:
            root -= 12
        fifth = root + 7
        if hold_to is not None:
            part.note(self.bar_start(bar), hold_to, root, self.velocity(energy))
            return
        pattern = self.recipe.bass_pattern
        if pattern == "whole":
            hits = [(0, 4, root)] if energy < 0.6 else [(0, 2, root), (2, 2, fifth)]
        elif pattern == "pulse":
            hits = [(b * 0.5, 0.45, root if b < 6 else (fifth if b == 6 else root + 12)) for b in range(8)]
            if energy < 0.5:
                hits = [(b, 0.9, root) for b in range(4)]
        elif pattern == "synco":
            hits = [(0, 1.25, root), (1.5, 0.5, root), (2.5, 1, fifth), (3.5, 0.5, root + 12)]
            if energy < 0.45:
                hits = [(0, 2.5, root), (2.5, 1.5, fifth)]
        else:  # roots
            hits = [(0, 1.5, root), (1.5, 0.5, root), (2, 1.5, fifth), (3.5, 0.5, root)]
            if energy < 0.45:
                hits = [(0, 2, root), (2, 2, fifth)]
        for beat, length, pitch in _fit_hits(hits, self.beats(bar)):
            start = self.at(bar, beat)
            part.note(start, self.at(bar, beat + length) - 8, pitch, self.velocity(energy, 1.0 if beat == 0 else 0.85))

    def drum_bar(self, bar: int, energy: float, *, crash: bool, fill: bool) -> None:
        if self.drums is None:
            return
        kit = KITS.get(self.recipe.drum_kit, KITS["pop"])
        steps = self.beats(bar) * 4
        base = kit["full" if energy >= 0.6 else "light"]
        hits = [h for h in base if h[0] < steps] + [(s + 16, n, v) for s, n, v in base if s + 16 < steps]
        if fill:
            last = steps - 4
            hits = [h for h in hits if h[0] < last] + [
                (last + i, SNARE if self.recipe.drum_kit != "cinematic" else (HIGH_TOM, MID_TOM, LOW_TOM, LOW_TOM)[i],
                 0.55 + 0.1 * i) for i in range(4)]
        if crash:
            hits = [h for h in hits if h[0] != 0 or h[1] == KICK] + [(0, CRASH, 0.85)]
        for step, note, accent in hits:
            start = self.at(bar, step / 4)
            self.drums.note(start, start + TPB // 4, note, self.velocity(energy, accent * 1.1))

    def lead_phrase(self, first_bar: int, bars: int, chords: list[int], motif: list[tuple[float, float, int]],
                    energy: float) -> None:
        """Play a two-bar motif over `bars` bars, snapping strong-beat notes to the chord below."""
        part = self.parts.get("lead")
        if part is None:
            return
        index = 4  # start on the fifth above the tonic
        for pair in range(0, bars, 2):
            for beat, length, step in motif:
                bar = first_bar + pair + int(beat // BEATS_PER_BAR)
                if bar >= first_bar + bars:
                    break
                degree = chords[bar - first_bar]
                index = max(0, min(11, index + step))
                in_bar = beat % BEATS_PER_BAR
                if in_bar >= self.beats(bar):
                    continue  # a short bar drops the motif's tail
                phrase_end = (bar - first_bar) % 4 == 3 and in_bar >= 2
                if in_bar in (0, 2) or length >= 2 or phrase_end:
                    index = self._nearest_chord_step(index, degree)
                start = self.at(bar, in_bar)
                end = min(self.at(bar, in_bar + length), self.bar_start(bar + 1) + TPB * 2) - 15
                part.note(start, end, self.harmony.pitch(index, self.lead_base), self.velocity(energy, 0.95))

    def _nearest_chord_step(self, index: int, degree: int) -> int:
        targets = self.harmony.degrees(degree)
        for distance in range(0, 4):
            for candidate in (index - distance, index + distance):
                if 0 <= candidate <= 11 and candidate % 7 in targets:
                    return candidate
        return index


def _fit_hits(hits: list, beats: int) -> list:
    """A 4-beat pattern fitted to a bar of `beats` beats: cut short, or repeated from beat 4 on."""
    fitted = [(b, min(length, beats - b), *rest) for b, length, *rest in hits if b < beats]
    fitted += [(b + 4, min(length, beats - b - 4), *rest) for b, length, *rest in hits if b + 4 < beats]
    return fitted


def _make_motif(rng, energy: float) -> list[tuple[float, float, int]]:
    """A two-bar rhythm with melodic steps (mostly stepwise, some leaps)."""
    bank = RHYTHMS["busy" if energy > 0.75 else "medium" if energy > 0.4 else "sparse"]
    rhythm = rng.choice(bank)
    steps = [rng.choice((-2, -1, -1, 1, 1, 2, 0, 3, -3)) for _ in rhythm]
    return [(float(b), float(d), s) for (b, d), s in zip(rhythm, steps)]


def _vary(rng, motif: list[tuple[float, float, int]]) -> list[tuple[float, float, int]]:
    return [(b, d, rng.choice((-2, -1, 1, 2)) if rng.random() < 0.3 else s) for b, d, s in motif]


def _choose_bars(beat_ticks: list[int], cuts: Sequence[SceneCut], sec_per_tick: float) -> list[tuple[int, int]]:
    """The bar layout whose downbeats catch the most cut weight, each odd-length bar costing a little."""
    best: tuple[float, int] | None = None
    layouts = []
    for phase in range(min(BEATS_PER_BAR, len(beat_ticks))):
        bars = _build_bars(beat_ticks, phase, list(cuts), sec_per_tick)
        downbeats = [start * sec_per_tick for start, _ in bars]
        caught = sum(c.strength for c in cuts if _near_any(c.time, downbeats, BEAT_TOLERANCE))
        odd = sum(1 for _, beats in bars if beats != BEATS_PER_BAR)
        score = caught - 0.25 * odd
        layouts.append(bars)
        if best is None or score > best[0] + 1e-9:
            best = (score, phase)
    return layouts[best[1]] if best else []


def _build_bars(beat_ticks: list[int], phase: int, cuts: list[SceneCut], sec_per_tick: float) -> list[tuple[int, int]]:
    """Bars as (start tick, beats) from beat `phase` on: 4 beats each, except that a strong cut
    falling inside a bar may shorten it (2-3 beats) or stretch it (5-6) so the next bar starts on
    the cut. Odd bars are rationed (one per 4 bars, or per 2 for the strongest cuts) to keep the groove."""
    if not beat_ticks:
        return []
    beat_seconds = TPB * sec_per_tick
    first = beat_ticks[0] * sec_per_tick
    strong: dict[int, float] = {}
    for cut in cuts:
        if cut.strength < 0.6:
            continue
        index = int(round((cut.time - first) / beat_seconds))
        if 0 <= index < len(beat_ticks) and abs(beat_ticks[index] * sec_per_tick - cut.time) <= BEAT_TOLERANCE:
            strong[index] = max(strong.get(index, 0.0), cut.strength)
    bars: list[tuple[int, int]] = []
    index, last_odd = phase, -BEATS_PER_BAR
    while index < len(beat_ticks):
        length = BEATS_PER_BAR
        ahead = [(strong[i], -i, i) for i in range(index + 2, index + 7) if i in strong]
        best = max(ahead) if ahead else None
        # The very strongest cuts may bend the metre again after 2 bars, others after 4.
        gap = 2 if best and best[0] >= 0.85 else BEATS_PER_BAR
        if best and index + BEATS_PER_BAR not in strong and len(bars) - last_odd >= gap:
            target = best[2]
            length = target - index
            last_odd = len(bars)
        bars.append((beat_ticks[index], length))
        index += length
    return bars


def _near_any(time: float, grid: Sequence[float], tolerance: float) -> bool:
    i = bisect.bisect_left(grid, time)
    return any(0 <= j < len(grid) and abs(grid[j] - time) <= tolerance + 1e-9 for j in (i - 1, i))


def _plan_sections(body_bars: int, bar_cut_strength: list[float], density: float) -> list[_Section]:
    """Cut the body into intro + sections; boundaries go on the bars that start at the strongest cuts."""
    if body_bars <= 0:
        return []
    intro = 4 if body_bars >= 20 else 2 if body_bars >= 7 else 1 if body_bars >= 4 else 0
    min_len = 4 if body_bars >= 24 else 2
    bounds = {intro, body_bars}
    candidates = sorted(
        (b for b in range(intro + 1, body_bars) if bar_cut_strength[b] > 0.2),
        key=lambda b: (-bar_cut_strength[b], b),
    )
    for bar in candidates:
        if all(abs(bar - other) >= min_len for other in bounds):
            bounds.add(bar)
    # Split long stretches into 8-bar phrases so the music still moves on a clip without cuts.
    ordered = sorted(bounds)
    filled = [ordered[0]]
    for nxt in ordered[1:]:
        while nxt - filled[-1] > 12:
            filled.append(filled[-1] + 8)
        filled.append(nxt)
    cycle = ["A", "B", "A", "B", "C", "B", "A", "B"]
    levels = {"A": 0.55, "B": 0.85, "C": 0.4}
    sections: list[_Section] = []
    if intro:
        sections.append(_Section("intro", 0, intro, 0.3, False))
    for i, (start, end) in enumerate(zip(filled, filled[1:])):
        if end <= start:
            continue
        kind = cycle[i % len(cycle)] if len(filled) > 3 else ("A", "B")[i % 2]
        energy = levels[kind] + (0.1 if bar_cut_strength[start] > 0.5 else 0.0)
        sections.append(_Section(kind, start, end - start, energy, bar_cut_strength[start] > 0.2))
    # The last section before the ending is the biggest one, unless the piece is tiny.
    if len(sections) >= 3 and sections[-1].kind != "intro":
        last = sections[-1]
        sections[-1] = _Section(last.kind, last.first_bar, last.bars, max(last.energy, 0.9), last.at_cut)
    scale = 0.55 + 0.75 * density
    return [_Section(s.kind, s.first_bar, s.bars, min(1.0, s.energy * scale), s.at_cut) for s in sections]


def compose(plan: MusicPlan, cuts: Sequence[SceneCut], duration: float, midi_path: Path) -> Composition:
    """Write the MIDI score for `duration` seconds and describe its timing."""
    if duration <= 0 or not math.isfinite(duration):
        raise EngineError("The clip is too short to add music to.")
    if plan.style not in STYLES:
        raise EngineError(f"I don't know the style '{plan.style}'.")
    recipe = STYLES[plan.style]
    tempo_us = int(round(60_000_000 / max(20.0, min(300.0, plan.tempo))))
    sec_per_tick = tempo_us / 1_000_000 / TPB
    end_tick = max(1, int(max(duration - END_MARGIN, duration * 0.9) / sec_per_tick))
    duration_tick = duration / sec_per_tick

    offset_tick = int(round(plan.beat_offset / sec_per_tick)) % TPB
    beat_ticks = list(range(offset_tick, int(math.ceil(duration_tick)), TPB))
    beat_ticks = [t for t in beat_ticks if t * sec_per_tick < duration]
    beat_times = tuple(round(t * sec_per_tick, 6) for t in beat_ticks)

    clip_cuts = sorted((c for c in cuts if 0 <= c.time <= duration), key=lambda c: (c.time, -c.strength))
    bars = _choose_bars(beat_ticks, clip_cuts, sec_per_tick)
    downbeat_ticks = [start for start, _ in bars]

    ring_ticks = int(min(2.5, max(1.0, 2 * 60.0 / plan.tempo)) / sec_per_tick)
    final_bar = max((i for i, t in enumerate(downbeat_ticks) if t <= end_tick - ring_ticks), default=-1)
    score = _Score(plan, recipe, bars or [(0, BEATS_PER_BAR)], end_tick)

    section_starts: list[float] = [0.0]
    if final_bar < 1:
        _compose_miniature(score, beat_ticks, end_tick)
    else:
        section_starts += _compose_body(score, final_bar, clip_cuts, sec_per_tick)

    midi = _to_midi(score, tempo_us, end_tick)
    midi_path = Path(midi_path)
    midi_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        midi.save(str(midi_path))
    except OSError as error:
        raise EngineError("I couldn't write the music score to disk.") from error

    on_beat = sum(1 for c in clip_cuts if _near_any(c.time, beat_times, BEAT_TOLERANCE))
    return Composition(
        midi_path=midi_path,
        duration=duration,
        tempo=round(60_000_000 / tempo_us, 3),
        beat_times=beat_times,
        downbeat_times=tuple(round(t * sec_per_tick, 6) for t in downbeat_ticks),
        section_starts=tuple(sorted(set(round(s, 6) for s in section_starts))),
        cuts_on_beat=on_beat,
        cuts_total=len(clip_cuts),
    )


def _compose_miniature(score: _Score, beat_ticks: list[int], end_tick: int) -> None:
    """Too short for bars: a tonic chord from the start with a small rising figure, ringing to the end."""
    tonic = score.harmony.chord(0, seventh=False)
    score.voicing = {role: None for role in score.parts}
    score.bars = [(0, BEATS_PER_BAR)]
    score.harmony_bar(0, tonic, 0.5, hold_to=end_tick)
    score.bass_bar(0, tonic, 0.5, hold_to=end_tick)
    lead = score.parts.get("lead")
    if lead is not None:
        steps = [4, 2, 0] if len(beat_ticks) >= 3 else [0]
        starts = [t for t in beat_ticks if t < end_tick - TPB // 2][-len(steps):] or [0]
        for i, (tick, step) in enumerate(zip(starts, steps[-len(starts):])):
            end = end_tick if i == len(starts) - 1 else starts[i + 1] - 10
            lead.note(tick, end, score.harmony.pitch(step, score.lead_base), score.velocity(0.5))


def _compose_body(score: _Score, final_bar: int, cuts: list[SceneCut], sec_per_tick: float) -> list[float]:
    """Intro, sections, cadence and the final chord. Returns the section start times."""
    plan, rng, harmony = score.plan, score.rng, score.harmony
    bar_strength = []
    for bar in range(final_bar + 1):
        t = score.bar_start(bar) * sec_per_tick
        half_beat = TPB / 2 * sec_per_tick
        near = [c.strength for c in cuts if abs(c.time - t) <= max(BEAT_TOLERANCE, half_beat)]
        bar_strength.append(max(near, default=0.0))
    sections = _plan_sections(final_bar, bar_strength, plan.density)

    progressions = {kind: rng.choice(PROGRESSIONS[plan.mode]) for kind in ("intro", "A", "B", "C")}
    progressions["intro"] = (0, progressions["A"][1], 0, progressions["A"][1])
    motifs: dict[str, list[tuple[float, float, int]]] = {}
    seen: dict[str, int] = {}

    # Pickup before the first downbeat: a soft tonic so the music starts with the picture.
    first_downbeat = score.bar_start(0)
    if first_downbeat > TPB // 2:
        for role in ("pad", "chords", "arp"):
            part = score.parts.get(role)
            if part is not None:
                voiced = _voice(harmony, harmony.chord(0, seventh=False), 52, 72, None)
                for p in voiced:
                    part.note(0, first_downbeat - 10, p, score.velocity(0.2, 0.7))
                break

    for index, section in enumerate(sections):
        prog = progressions[section.kind]
        chords = [prog[i % len(prog)] for i in range(section.bars)]
        if index == len(sections) - 1:
            # Cadence into the final tonic: IV (or ii) then V.
            if section.bars >= 2:
                chords[-2] = 3 if plan.mode == "major" else 5
            chords[-1] = 4
        times = seen.get(section.kind, 0)
        seen[section.kind] = times + 1
        if section.kind not in motifs:
            motifs[section.kind] = _make_motif(rng, section.energy)
        motif = motifs[section.kind] if times == 0 else _vary(rng, motifs[section.kind])

        for offset, degree in enumerate(chords):
            bar = section.first_bar + offset
            last_chord = index == len(sections) - 1 and offset == len(chords) - 1
            chord = harmony.chord(degree, dominant=last_chord or degree == 4)
            score.harmony_bar(bar, chord, section.energy)
            if section.kind != "intro" or section.energy > 0.45 or plan.density > 0.6:
                score.bass_bar(bar, chord, section.energy)
            if section.kind != "intro" and section.energy >= 0.3:
                is_last_bar = offset == section.bars - 1
                score.drum_bar(bar, section.energy, crash=offset == 0 and (section.at_cut or times > 0)
                               and section.energy >= 0.5,
                               fill=is_last_bar and section.bars >= 4 and section.energy >= 0.5)
        if section.kind != "intro" and section.energy >= 0.3 and not (section.kind == "C" and section.energy < 0.4):
            score.lead_phrase(section.first_bar, section.bars, chords, motif, section.energy)

    # Final tonic chord on the last downbeat that leaves room to ring, faded out by expression.
    tonic = harmony.chord(0, seventh=False)
    score.harmony_bar(final_bar, tonic, 0.7, hold_to=score.end_tick)
    score.bass_bar(final_bar, tonic, 0.7, hold_to=score.end_tick)
    final_start = score.bar_start(final_bar)
    lead = score.parts.get("lead")
    if lead is not None:
        lead.note(final_start, score.end_tick, harmony.pitch(0, score.lead_base), score.velocity(0.6))
    if score.drums is not None:
        score.drums.note(final_start, final_start + TPB // 2, KICK, score.velocity(0.7))
        score.drums.note(final_start, final_start + TPB // 2, CRASH, score.velocity(0.6, 0.9))
    fade_from = final_start + (score.end_tick - final_start) // 3
    for part in score.parts.values():
        for i in range(9):
            tick = fade_from + (score.end_tick - fade_from) * i // 8
            part.controls.append((tick, 11, int(127 - 77 * i / 8)))

    starts = [s.first_bar for s in sections if s.kind != "intro"] + [final_bar]
    return [score.bar_start(bar) * sec_per_tick for bar in starts]


def _to_midi(score: _Score, tempo_us: int, end_tick: int) -> mido.MidiFile:
    midi = mido.MidiFile(type=1, ticks_per_beat=TPB)
    conductor = mido.MidiTrack()
    conductor.append(mido.MetaMessage("track_name", name="AI With Music", time=0))
    conductor.append(mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0))
    conductor.append(mido.MetaMessage("set_tempo", tempo=tempo_us, time=0))
    conductor.append(mido.MetaMessage("end_of_track", time=end_tick))
    midi.tracks.append(conductor)

    parts = [score.parts[r] for r in ("chords", "arp", "pad", "bass", "lead") if r in score.parts]
    if score.drums is not None:
        parts.append(score.drums)
    for part in parts:
        events = _part_events(part, end_tick)
        track = mido.MidiTrack()
        track.append(mido.MetaMessage("track_name", name=part.role, time=0))
        if part.channel != DRUM_CHANNEL:
            track.append(mido.Message("program_change", channel=part.channel, program=part.program, time=0))
        for control, value in ((7, VOLUMES[part.role]), (10, PANS[part.role]), (91, REVERB[part.role]),
                               (93, 0), (11, 127)):
            track.append(mido.Message("control_change", channel=part.channel, control=control, value=value, time=0))
        now = 0
        for tick, _order, kind, a, b in events:
            delta = tick - now
            now = tick
            if kind == "cc":
                track.append(mido.Message("control_change", channel=part.channel, control=a, value=b, time=delta))
            elif kind == "on":
                track.append(mido.Message("note_on", channel=part.channel, note=a, velocity=b, time=delta))
            else:
                track.append(mido.Message("note_off", channel=part.channel, note=a, velocity=0, time=delta))
        track.append(mido.MetaMessage("end_of_track", time=max(0, end_tick - now)))
        midi.tracks.append(track)
    return midi


def _part_events(part: _Part, end_tick: int) -> list[tuple[int, int, str, int, int]]:
    """Sorted note/controller events, notes clipped to end_tick and never overlapping on one pitch."""
    legato = part.role == "pad"
    by_pitch: dict[int, list[tuple[int, int, int]]] = {}
    for start, end, pitch, velocity in part.notes:
        start = max(0, start)
        end = min(end, end_tick)
        if end - start >= 10:
            by_pitch.setdefault(pitch, []).append((start, end, velocity))
    events: list[tuple[int, int, str, int, int]] = []
    for pitch, notes in by_pitch.items():
        notes.sort(key=lambda n: (n[0], -n[2], n[1]))
        kept: list[list[int]] = []
        for start, end, velocity in notes:
            if kept and start <= kept[-1][0]:
                continue  # same onset twice: keep the louder
            if legato and kept and 0 <= start - kept[-1][1] <= 30:
                kept[-1][1] = max(kept[-1][1], end)  # a held pad tone carries on instead of re-sounding
                continue
            if kept and kept[-1][1] > start:
                kept[-1][1] = start  # release the earlier note when the same pitch sounds again
            kept.append([start, end, velocity])
        for start, end, velocity in kept:
            if end > start:
                events.append((start, 2, "on", pitch, velocity))
                events.append((end, 0, "off", pitch, 0))
    for tick, control, value in part.controls:
        if 0 <= tick <= end_tick:
            events.append((tick, 1, "cc", control, value))
    events.sort()
    return events
