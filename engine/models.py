"""Plain data passed between the engine's stages.

Each stage reads one of these and returns the next, so a stage can be tested, timed and
replaced on its own: probe -> MediaInfo, analyse -> VideoAnalysis, choose -> MusicPlan,
compose -> Composition, synthesise -> a WAV file, mix/mux -> the output MP4 and a Summary.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

# progress(stage, fraction 0..1 or None when unknown)
ProgressCallback = Callable[[str, float | None], None]


@dataclass(frozen=True)
class MediaInfo:
    """What the container says, read without decoding every frame."""

    path: Path
    container: str  # e.g. "mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "avi"
    duration: float  # seconds
    width: int  # coded width, before rotation
    height: int
    rotation: int  # degrees clockwise the player turns the picture: 0, 90, 180, 270
    fps: float
    video_codec: str  # "h264", "hevc", "vp9", "av1", ...
    video_bitrate: int | None  # bits per second, when known
    has_audio: bool
    audio_codec: str | None
    audio_sample_rate: int | None
    audio_channels: int | None
    size_bytes: int

    @property
    def display_width(self) -> int:
        return self.height if self.rotation in (90, 270) else self.width

    @property
    def display_height(self) -> int:
        return self.width if self.rotation in (90, 270) else self.height


@dataclass(frozen=True)
class SceneCut:
    time: float  # seconds from the start
    strength: float  # 0..1, how sure/strong the cut is


@dataclass(frozen=True)
class AudioAnalysis:
    """The clip's own sound."""

    present: bool
    loudness_lufs: float | None  # integrated, None when silent/absent
    speech_ratio: float  # 0..1 share of the clip that sounds like speech
    speech_spans: tuple[tuple[float, float], ...] = ()  # (start, end) seconds, for ducking


@dataclass(frozen=True)
class VideoAnalysis:
    info: MediaInfo
    brightness: tuple[float, ...]  # per second, 0..1
    warmth: tuple[float, ...]  # per second, -1 (cool/blue) .. +1 (warm/red)
    motion: tuple[float, ...]  # per second, 0..1
    cuts: tuple[SceneCut, ...]
    audio: AudioAnalysis
    sampled: bool = False  # True when a long clip was sampled rather than read whole

    @property
    def mean_brightness(self) -> float:
        return sum(self.brightness) / len(self.brightness) if self.brightness else 0.5

    @property
    def mean_warmth(self) -> float:
        return sum(self.warmth) / len(self.warmth) if self.warmth else 0.0

    @property
    def mean_motion(self) -> float:
        return sum(self.motion) / len(self.motion) if self.motion else 0.0


@dataclass(frozen=True)
class MusicPlan:
    """What to play, decided from the analysis and the user's words."""

    style: str  # one of engine.styles.STYLES: "lofi", "cinematic", "upbeat", "ambient", ...
    mood: str  # "happy", "sad", "calm", "energetic", "dark", "dreamy", ...
    tempo: float  # BPM, after fitting beats to cuts
    key: str  # tonic, e.g. "C", "F#"
    mode: str  # "major" or "minor"
    instruments: dict[str, int]  # role -> General MIDI program: {"chords": 4, "bass": 33, "lead": 0}
    drums: bool
    density: float  # 0..1, how busy the arrangement is
    seed: int
    reasons: tuple[str, ...] = ()  # short human words on why ("prompt asked for lo-fi", "dark, slow clip")
    beat_offset: float = 0.0  # seconds of the first beat, so the beat grid lands on the strongest cuts


@dataclass(frozen=True)
class Composition:
    midi_path: Path
    duration: float  # seconds, equals the video's (trimmed) duration
    tempo: float
    beat_times: tuple[float, ...]  # seconds of every beat
    downbeat_times: tuple[float, ...]  # seconds of every bar start
    section_starts: tuple[float, ...]  # seconds where sections begin (intro at 0)
    cuts_on_beat: int  # scene cuts within 100 ms of a beat
    cuts_total: int


@dataclass(frozen=True)
class Title:
    text: str
    start: float  # seconds
    duration: float  # seconds


@dataclass
class EditSpec:
    """Everything one render needs. The CLI and the local backend both build one of these."""

    source: Path
    prompt: str | None = None
    style: str | None = None  # overrides the automatic choice; None = match the mood
    seed: int = 0
    music: bool = True  # False = no music at all (original sound only)
    music_volume: float | None = None  # 0..1 linear share; None = automatic (about 0.35 under sound)
    tempo: float | None = None  # BPM asked for explicitly
    trim_start: float = 0.0
    trim_end: float | None = None
    titles: list[Title] = field(default_factory=list)
    preset: str | None = None  # engine.presets name: telegram, discord, tiktok, reels, shorts, youtube
    framing: str = "letterbox"  # "letterbox" or "crop", when a preset changes the aspect ratio
    max_bytes: int | None = None  # overrides the preset's byte cap
    max_width: int | None = None
    max_height: int | None = None
    loudness_lufs: float = -14.0
    true_peak_db: float = -1.0
    soundfont: Path | None = None


@dataclass(frozen=True)
class Summary:
    """What came out, for --json, the backend and provenance."""

    output: Path
    engine_version: str
    style: str
    mood: str
    tempo: float
    key: str
    mode: str
    seed: int
    duration: float
    width: int
    height: int
    video_copied: bool  # True when the video stream was copied untouched
    music_volume: float
    loudness_lufs: float  # measured on the output mix
    true_peak_db: float
    cuts_on_beat: int
    cuts_total: int
    size_bytes: int
    reasons: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        data = asdict(self)
        data["output"] = str(self.output)
        data["reasons"] = list(self.reasons)
        return data
