"""The engine from end to end: a video in, the same video with fitting music out.

probe -> analyse -> choose -> compose -> synthesise -> mix and mux -> fit (when capped).
The output appears under its final name only when every step succeeded, so a failure or an
interrupt never leaves a half-written video behind.
"""

from __future__ import annotations

import os
import tempfile
import wave
from dataclasses import replace
from pathlib import Path

from engine import __version__
from engine.analyse import analyse
from engine.choose import choose_music
from engine.compose import compose
from engine.errors import InvalidMediaError
from engine.fit import FitResult, fit
from engine.mix import ClipSound, mix_and_mux
from engine.models import EditSpec, MediaInfo, ProgressCallback, SceneCut, Summary, VideoAnalysis
from engine.presets import get_preset
from engine.probe import probe
from engine.provenance import provenance_tags
from engine.styles import parse_prompt
from engine.synth import synthesise

# Share of the music under a clip's own sound when nobody asked for a level.
BACKGROUND_VOLUME = 0.35
# How long each stage takes relative to the others, so one progress bar can span them all.
_STAGE_WEIGHTS = {"analyse": 0.2, "compose": 0.05, "synthesise": 0.2, "mix": 0.35, "fit": 0.2}


def make(spec: EditSpec, output: Path | str, progress: ProgressCallback | None = None) -> Summary:
    """Render `spec` into `output` (an MP4) and say what was made."""
    output = Path(output)
    report = _StageReporter(progress)
    aspect = _apply_preset(spec)
    wishes = parse_prompt(spec.prompt)
    music_wanted = spec.music and not wishes.no_music

    info = probe(spec.source)
    start, end = _trim_window(spec, info.duration)
    length = end - start

    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="aiwm-", dir=output.parent) as work_dir:
        work = Path(work_dir)
        # The clip's own sound decodes for the mix on a spare core while the picture is analysed
        # and the music rendered: the mix then finds it ready instead of decoding after them.
        with ClipSound(spec.source, info, work, trim_start=start,
                       trim_end=end if end < info.duration else None) as clip_sound:
            report.begin("analyse")
            analysis = analyse(spec.source, info, progress=report.fraction)
            cuts = _cuts_within(analysis, start, end)
            plan = choose_music(
                _trimmed_analysis(analysis, cuts),
                prompt=spec.prompt,
                style=spec.style,
                tempo=spec.tempo if spec.tempo is not None else wishes.tempo,
                seed=spec.seed,
            )
            music_wav = work / "music.wav"
            cuts_on_beat = cuts_total = 0
            if music_wanted:
                report.begin("compose")
                composition = compose(plan, cuts, length, work / "music.mid")
                cuts_on_beat, cuts_total = composition.cuts_on_beat, composition.cuts_total
                report.begin("synthesise")
                synthesise(composition.midi_path, music_wav, duration=length, soundfont=spec.soundfont)
            else:
                _write_silence(music_wav, length)

            volume = _music_volume(spec, wishes.volume, analysis, music_wanted)
            report.begin("mix")
            mixed = work / "mixed.mp4"
            mix = mix_and_mux(
                spec.source,
                music_wav,
                mixed,
                info=info,
                music_volume=volume,
                speech_spans=_spans_within(analysis.audio.speech_spans, start, end),
                has_original_audio=analysis.audio.present,
                loudness_lufs=spec.loudness_lufs,
                true_peak_db=spec.true_peak_db,
                trim_start=start,
                trim_end=end if end < info.duration else None,
                titles=spec.titles,
                metadata=provenance_tags(
                    style=plan.style if music_wanted else "none",
                    tempo=plan.tempo,
                    key=plan.key,
                    mode=plan.mode,
                    seed=plan.seed,
                    engine_version=__version__,
                ),
                progress=report.fraction,
                clip_sound=clip_sound,
            )

        report.begin("fit")
        if _needs_fitting(spec, aspect):
            staged = work / "final.mp4"
            fitted = fit(
                mixed,
                staged,
                max_bytes=spec.max_bytes,
                max_width=spec.max_width,
                max_height=spec.max_height,
                aspect=aspect,
                framing=spec.framing,
                progress=report.fraction,
            )
        else:
            # Nothing to fit: the mux already wrote a streamable MP4, so it is the result as is
            # (fit would only copy it byte for byte).
            staged, fitted = mixed, _as_written(mixed, info if mix.video_copied else None)
        os.replace(staged, output)
        report.done()

    return Summary(
        output=output,
        engine_version=__version__,
        style=plan.style if music_wanted else "none",
        mood=plan.mood,
        tempo=round(plan.tempo, 2),
        key=plan.key,
        mode=plan.mode,
        seed=plan.seed,
        duration=round(length, 3),
        width=fitted.width,
        height=fitted.height,
        video_copied=mix.video_copied and not fitted.reencoded,
        music_volume=round(volume, 3),
        loudness_lufs=round(mix.loudness_lufs, 2),
        true_peak_db=round(mix.true_peak_db, 2),
        cuts_on_beat=cuts_on_beat,
        cuts_total=cuts_total,
        size_bytes=output.stat().st_size,
        reasons=plan.reasons,
    )


def add_music(source: Path | str, output: Path | str, *, prompt: str | None = None, style: str | None = None,
              seed: int = 0, preset: str | None = None, progress: ProgressCallback | None = None) -> Summary:
    """The common case in one call."""
    spec = EditSpec(source=Path(source), prompt=prompt, style=style, seed=seed, preset=preset)
    return make(spec, output, progress)


def _apply_preset(spec: EditSpec) -> tuple[int, int] | None:
    """A preset fills in the caps and loudness the user did not set; returns its aspect ratio."""
    if not spec.preset:
        return None
    preset = get_preset(spec.preset)
    if spec.max_bytes is None:
        spec.max_bytes = preset.max_bytes
    if spec.max_width is None:
        spec.max_width = preset.max_width
    if spec.max_height is None:
        spec.max_height = preset.max_height
    spec.loudness_lufs = preset.loudness_lufs
    return preset.aspect


def _needs_fitting(spec: EditSpec, aspect: tuple[int, int] | None) -> bool:
    return any(cap is not None for cap in (spec.max_bytes, spec.max_width, spec.max_height, aspect))


def _as_written(path: Path, source: MediaInfo | None) -> FitResult:
    """The mux's own MP4 taken as the result. A copied picture (and its rotation) is the
    source's, so is its display size; a re-encoded one is read back from the file."""
    info = source or probe(path)
    return FitResult(path, path.stat().st_size, info.display_width, info.display_height, reencoded=False)


def _trim_window(spec: EditSpec, duration: float) -> tuple[float, float]:
    start = max(0.0, spec.trim_start)
    end = duration if spec.trim_end is None else min(duration, spec.trim_end)
    if end - start < 0.5:
        raise InvalidMediaError("The trim leaves less than half a second of video.")
    return start, end


def _cuts_within(analysis: VideoAnalysis, start: float, end: float) -> list[SceneCut]:
    """Scene cuts inside the kept part, timed from its start."""
    return [replace(cut, time=cut.time - start) for cut in analysis.cuts if start < cut.time < end]


def _spans_within(spans, start: float, end: float) -> list[tuple[float, float]]:
    kept = []
    for span_start, span_end in spans:
        s, e = max(span_start, start), min(span_end, end)
        if e > s:
            kept.append((s - start, e - start))
    return kept


def _trimmed_analysis(analysis: VideoAnalysis, cuts: list[SceneCut]) -> VideoAnalysis:
    return replace(analysis, cuts=tuple(cuts))


def _music_volume(spec: EditSpec, asked: float | None, analysis: VideoAnalysis, music_wanted: bool) -> float:
    if not music_wanted:
        return 0.0
    for level in (spec.music_volume, asked):
        if level is not None:
            return min(1.0, max(0.0, level))
    # A clip with its own sound gets the music underneath it; a silent clip gets it in full.
    return BACKGROUND_VOLUME if analysis.audio.present and analysis.audio.loudness_lufs is not None else 1.0


def _write_silence(path: Path, seconds: float, rate: int = 48000) -> None:
    frames = int(round(seconds * rate))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(rate)
        chunk = b"\0" * (4 * rate)
        while frames > 0:
            step = min(frames, rate)
            out.writeframes(chunk[: step * 4])
            frames -= step


class _StageReporter:
    """Turns per-stage fractions into one overall 0..1 progress, stage by stage."""

    def __init__(self, callback: ProgressCallback | None) -> None:
        self._callback = callback
        self._stage = "analyse"
        self._done_before = 0.0

    def begin(self, stage: str) -> None:
        order = list(_STAGE_WEIGHTS)
        self._done_before = sum(_STAGE_WEIGHTS[s] for s in order[: order.index(stage)])
        self._stage = stage
        self._emit(0.0)

    def fraction(self, *args) -> None:
        """Accepts both `f(fraction)` and the stage-style `f(stage, fraction)` callbacks."""
        value = args[-1] if args else None
        self._emit(value if isinstance(value, (int, float)) else None)

    def done(self) -> None:
        if self._callback:
            self._callback("done", 1.0)

    def _emit(self, value: float | None) -> None:
        if not self._callback:
            return
        if value is None:
            self._callback(self._stage, None)
            return
        overall = self._done_before + _STAGE_WEIGHTS[self._stage] * min(1.0, max(0.0, value))
        self._callback(self._stage, overall)


__all__ = ["make", "add_music", "BACKGROUND_VOLUME"]
