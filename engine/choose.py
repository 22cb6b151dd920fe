"""Decide what music fits a clip: style, mood, tempo, key, instruments, density.

Precedence: an explicit `style`/`tempo` argument beats the prompt's words, which beat what the
picture and sound suggest. The tempo and the phase of the beat grid are fitted so beats land on
the strongest scene cuts.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Sequence

import numpy as np

from engine.errors import EngineError
from engine.models import MusicPlan, SceneCut, VideoAnalysis
from engine.styles import STYLES, PromptWishes, Style, parse_prompt, resolve_style

BEAT_TOLERANCE = 0.1  # seconds: a cut this close to a beat counts as "on the beat"

# Where an instrument wish goes: (role, GM program). "piano" in a lo-fi prompt swaps the chords.
_INSTRUMENT_PROGRAMS: dict[str, tuple[str, int]] = {
    "piano": ("chords", 0),
    "guitar": ("chords", 25),
    "strings": ("pad", 49),
    "synth": ("lead", 81),
    "flute": ("lead", 73),
    "bass": ("bass", 33),
}

_NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


def stable_rng(seed: int, *salt: str) -> random.Random:
    """A random generator that depends only on the seed and the salt (never on PYTHONHASHSEED)."""
    mixed = zlib.crc32("|".join(salt).encode("utf-8"))
    return random.Random((int(seed) & 0xFFFFFFFF) * 1_000_003 + mixed)


def alignment_score(cut_times: np.ndarray, weights: np.ndarray, period: float, offset: float) -> float:
    """Strength-weighted share of cuts within BEAT_TOLERANCE of a beat at offset + k*period."""
    if cut_times.size == 0 or weights.sum() <= 0:
        return 0.0
    dev = np.abs((cut_times - offset + period / 2) % period - period / 2)
    on = (dev <= BEAT_TOLERANCE) & (cut_times >= offset - BEAT_TOLERANCE)
    return float(weights[on].sum() / weights.sum())


def fit_beat_grid(
    cuts: Sequence[SceneCut],
    tempo_range: tuple[float, float],
    target: float,
    *,
    fixed_tempo: float | None = None,
) -> tuple[float, float, float]:
    """(bpm, offset seconds, score 0..1) putting beats on the strongest cuts.

    Among grids scoring within 2% of the best, the one nearest `target` BPM wins, so a clip
    with few cuts keeps a tempo that suits its mood.
    """
    usable = [c for c in cuts if c.time > 0 and c.strength > 0]
    if not usable:
        bpm = fixed_tempo if fixed_tempo else target
        return bpm, 0.0, 0.0
    times = np.array([c.time for c in usable], dtype=float)
    weights = np.array([c.strength for c in usable], dtype=float)
    # Offsets worth trying: the phases of the strongest cuts (the optimum puts some cut on a beat).
    top = np.argsort(-weights, kind="stable")[:48]

    if fixed_tempo:
        candidates = np.array([fixed_tempo])
    else:
        lo, hi = tempo_range
        candidates = np.round(np.arange(lo, hi + 1e-9, 0.25), 2)

    best: list[tuple[float, float, float, float]] = []  # (score, bpm, offset, mean deviation of caught cuts)
    for bpm in candidates:
        period = 60.0 / bpm
        offsets = times[top] % period
        dev = np.abs((times[None, :] - offsets[:, None] + period / 2) % period - period / 2)
        caught = (dev <= BEAT_TOLERANCE) * weights[None, :]
        scores = caught.sum(axis=1) / weights.sum()
        i = int(np.argmax(scores))
        spread = float((dev[i] * caught[i]).sum() / max(caught[i].sum(), 1e-9))
        best.append((float(scores[i]), float(bpm), float(offsets[i]), spread))

    # Among near-best grids prefer tight hits, then a tempo near the mood's target.
    top_score = max(b[0] for b in best)
    span = max(1.0, tempo_range[1] - tempo_range[0])
    near = [b for b in best if b[0] >= top_score - 0.02]
    score, bpm, offset, _ = min(near, key=lambda b: (b[3] / 0.04 + abs(b[1] - target) / span, -b[0], b[1]))
    period = 60.0 / bpm
    offset = _centre_offset(times, weights, period, offset)
    return bpm, offset, alignment_score(times, weights, period, offset)


def _centre_offset(times: np.ndarray, weights: np.ndarray, period: float, offset: float) -> float:
    """Nudge the grid to the weighted mean deviation of the cuts it catches, keeping them all."""
    dev = (times - offset + period / 2) % period - period / 2
    on = np.abs(dev) <= BEAT_TOLERANCE
    if on.any():
        shift = float(np.average(dev[on], weights=weights[on]))
        moved = np.abs(dev[on] - shift) <= BEAT_TOLERANCE
        if moved.all():
            offset += shift
    return round(offset % period, 4)


def _picture_mood(analysis: VideoAnalysis) -> tuple[str, float, float, list[str]]:
    """(mood, energy 0..1, valence -1..1, reasons) from brightness, warmth, motion and cut rate."""
    duration = max(analysis.info.duration, 1e-3)
    cut_rate = sum(c.strength for c in analysis.cuts) / duration * 60.0  # strong cuts per minute
    energy = min(1.0, 0.65 * min(1.0, analysis.mean_motion * 2.5) + 0.35 * min(1.0, cut_rate / 30.0))
    valence = max(-1.0, min(1.0, (analysis.mean_brightness - 0.45) * 2.0 + analysis.mean_warmth * 0.6))
    reasons = []
    light = "bright" if analysis.mean_brightness > 0.55 else "dark" if analysis.mean_brightness < 0.35 else ""
    tone = "warm" if analysis.mean_warmth > 0.2 else "cool" if analysis.mean_warmth < -0.2 else ""
    pace = "lively" if energy > 0.55 else "still" if energy < 0.25 else "steady"
    words = ", ".join(w for w in (light, tone, pace) if w)
    reasons.append(f"{words} clip")
    if energy > 0.55:
        mood = "happy" if valence > 0.1 else "energetic" if valence > -0.4 else "dark"
    elif energy < 0.3:
        mood = "calm" if valence > 0.0 else "dreamy" if valence > -0.4 else "sad"
    else:
        mood = "happy" if valence > 0.3 else "calm" if valence > -0.2 else "dark"
    return mood, energy, valence, reasons


def _style_for_mood(mood: str, energy: float, valence: float) -> str:
    if mood == "happy":
        return "upbeat" if energy > 0.6 else "happy" if energy > 0.4 else "acoustic"
    if mood == "energetic":
        return "electronic" if valence < 0.2 else "upbeat"
    if mood == "dark":
        return "cinematic" if energy < 0.7 else "electronic"
    if mood == "sad":
        return "sad"
    if mood == "dreamy":
        return "ambient"
    # calm
    return "lofi" if energy > 0.2 else "piano" if valence > 0.2 else "ambient"


def _mode_for(mood: str, style: Style) -> str:
    if mood in ("sad", "dark"):
        return "minor"
    if mood in ("happy",):
        return "major"
    return style.mode


def choose_music(
    analysis: VideoAnalysis,
    *,
    prompt: str | None = None,
    style: str | None = None,
    tempo: float | None = None,
    seed: int = 0,
) -> MusicPlan:
    """Pick the music for a clip. Deterministic for the same inputs and seed."""
    wishes: PromptWishes = parse_prompt(prompt)
    picture_mood, energy, valence, reasons = _picture_mood(analysis)

    if style is not None:
        style_name = resolve_style(style)
        if style_name is None:
            raise EngineError(f"I don't know the style '{style}'. Try one of: {', '.join(STYLES)}.")
        reasons.insert(0, f"{STYLES[style_name].label} as asked")
    elif wishes.style:
        style_name = wishes.style
        reasons.insert(0, f"prompt asked for {STYLES[style_name].label.lower()}")
    else:
        style_name = _style_for_mood(wishes.mood or picture_mood, energy, valence)
        reasons.append(f"{STYLES[style_name].label.lower()} suits a {wishes.mood or picture_mood} mood")
    recipe = STYLES[style_name]

    if wishes.mood:
        mood = wishes.mood
    elif recipe.name in ("sad", "happy") or style is not None or wishes.style:
        # A chosen style brings its own feeling unless the picture clearly disagrees on light.
        mood = recipe.mood if not (recipe.mood == "happy" and valence < -0.5) else picture_mood
    else:
        mood = picture_mood
    mode = _mode_for(mood, recipe)

    # Tempo target inside the style's range: energy and the prompt's pace move it.
    lo, hi = recipe.tempo_range
    position = 0.25 + 0.5 * energy
    if wishes.pace == "slow":
        position = 0.1
        reasons.append("slower, as asked")
    elif wishes.pace == "fast":
        position = 0.9
        reasons.append("faster, as asked")
    target = lo + (hi - lo) * position

    explicit = tempo if tempo else wishes.tempo
    if explicit:
        explicit = float(min(240.0, max(40.0, explicit)))
        bpm, offset, score = fit_beat_grid(analysis.cuts, (lo, hi), target, fixed_tempo=explicit)
        reasons.append(f"{explicit:g} BPM as asked")
    else:
        bpm, offset, score = fit_beat_grid(analysis.cuts, (lo, hi), target)
        if analysis.cuts and score > 0:
            reasons.append(f"{bpm:g} BPM puts {round(score * 100)}% of the cut weight on the beat")

    rng = stable_rng(seed, "choose", style_name)
    key = rng.choice(recipe.keys)
    instruments = dict(recipe.instruments)
    for role, options in sorted(recipe.alternates.items()):
        # A seed mostly keeps the signature sound and sometimes swaps one colour.
        if role in instruments and options and rng.random() < 0.4:
            instruments[role] = rng.choice(options)

    drums = recipe.drums
    density = recipe.density * (0.8 + 0.4 * energy)
    for wish in wishes.instruments:
        if wish == "no_drums":
            drums = False
        elif wish == "drums":
            drums = True
        elif wish in _INSTRUMENT_PROGRAMS:
            role, program = _INSTRUMENT_PROGRAMS[wish]
            if role == "chords" and "chords" not in instruments and "arp" in instruments:
                role = "arp"
            instruments[role] = program
    if wishes.instruments:
        reasons.append("instruments as asked: " + ", ".join(w.replace("_", " ") for w in wishes.instruments))

    audio = analysis.audio
    if audio.present and audio.speech_ratio > 0.25:
        # Leave room for the voice: fewer notes, no melody fighting the words.
        density *= 1.0 - 0.5 * min(1.0, audio.speech_ratio)
        if audio.speech_ratio > 0.4 and "lead" in instruments and len(instruments) > 2:
            del instruments["lead"]
        reasons.append("speech in the clip: a softer, sparser arrangement")
    density = round(max(0.1, min(1.0, density)), 3)

    return MusicPlan(
        style=style_name,
        mood=mood,
        tempo=round(bpm, 2),
        key=key,
        mode=mode,
        instruments=instruments,
        drums=drums,
        density=density,
        seed=seed,
        reasons=tuple(reasons),
        beat_offset=offset,
    )


def key_pitch_class(key: str) -> int:
    """Pitch class 0..11 of a tonic name ("C", "F#", "Eb", "Bb")."""
    name = key.strip().capitalize()
    flats = {"Db": "C#", "D#": "Eb", "Gb": "F#", "G#": "Ab", "A#": "Bb", "Cb": "B", "E#": "F", "Fb": "E", "B#": "C"}
    name = flats.get(name, name)
    if name not in _NOTE_NAMES:
        raise EngineError(f"I don't know the key '{key}'.")
    return _NOTE_NAMES.index(name)
