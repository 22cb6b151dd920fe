"""Listen to a clip's own sound: how loud it is (ITU-R BS.1770 integrated loudness) and where
someone seems to be talking (so the music can duck under speech).

The sound is decoded once with PyAV and decimated to about 24 kHz float (mono, or stereo when
the clip has two or more channels: BS.1770 sums the channels' power, so a mono downmix would read
3 dB low on a stereo clip).
"""

from __future__ import annotations

import math
from pathlib import Path

import av
import numpy as np
from scipy import signal

from engine.errors import InvalidMediaError
from engine.models import AudioAnalysis, MediaInfo

ANALYSIS_RATE = 24_000  # we decimate towards this by an integer factor (48k -> 24k, 44.1k -> 22.05k)
_BLOCK = 0.4  # seconds, BS.1770 gating block
_HOP = 0.1  # seconds, 75 % overlap between blocks
_ABSOLUTE_GATE = -70.0  # LUFS
_RELATIVE_GATE = -10.0  # LU below the ungated mean

_FRAME = 480  # samples = 20 ms at 24 kHz: one envelope value per frame (50 Hz)
_WINDOW = 50  # frames = 1 s of envelope, for the syllable-rate modulation
_STEP = 12  # frames = 0.24 s between speech decisions
_VOICE_BAND = (120.0, 4000.0)  # Hz: where a voice's energy sits
_SYLLABLE_BAND = (2.0, 8.0)  # Hz: how fast speech energy rises and falls


def analyse_audio(path: Path | str, info: MediaInfo) -> AudioAnalysis:
    """Loudness and speech of the clip's first audio stream; `present=False` when it has none."""
    if not info.has_audio:
        return AudioAnalysis(present=False, loudness_lufs=None, speech_ratio=0.0)
    channels = 2 if (info.audio_channels or 1) >= 2 else 1
    samples, rate = decode_audio(path, channels)
    if samples.shape[1] == 0:
        return AudioAnalysis(present=False, loudness_lufs=None, speech_ratio=0.0)
    lufs = integrated_loudness(samples, rate)
    mono = samples.mean(axis=0) if samples.shape[0] > 1 else samples[0]
    spans = speech_spans(mono, rate) if lufs is not None else ()
    total = max(info.duration, mono.size / rate, 1e-6)
    ratio = min(1.0, sum(end - start for start, end in spans) / total)
    return AudioAnalysis(
        present=True,
        loudness_lufs=None if lufs is None else round(lufs, 2),
        speech_ratio=round(ratio, 3),
        speech_spans=spans,
    )


def decode_audio(path: Path | str, channels: int = 1) -> tuple[np.ndarray, int]:
    """The first audio stream as float32 (channels, samples) and its rate (about 16-24 kHz).

    Decoders already give float samples; a resampler per frame would cost more than the
    decoding, so we fold channels and decimate by an integer factor with numpy instead
    (block averaging: a mild low-pass, harmless for loudness and speech cues)."""
    chunks: list[np.ndarray] = []
    rate = 0
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.streams.audio:
                return np.zeros((channels, 0), np.float32), ANALYSIS_RATE
            stream = container.streams.audio[0]
            converter = None
            for frame in container.decode(stream):
                rate = rate or frame.sample_rate
                if frame.format.name not in ("fltp", "flt"):
                    converter = converter or av.AudioResampler(format="fltp", rate=frame.sample_rate)
                    parts = [_to_channels(f) for f in converter.resample(frame)]
                    chunks.extend(p for p in parts if p.size)
                else:
                    chunks.append(_to_channels(frame))
    except av.error.FFmpegError:
        raise InvalidMediaError("The video's sound is damaged and can't be read.") from None
    if not chunks or not rate:
        return np.zeros((channels, 0), np.float32), ANALYSIS_RATE
    width = min(c.shape[0] for c in chunks)
    data = np.concatenate([c[:width] for c in chunks], axis=1)
    if channels == 1 or data.shape[0] == 1:
        data = data.mean(axis=0, keepdims=True) if data.shape[0] > 1 else data
    elif data.shape[0] > 2:
        data = np.stack([data[0::2].mean(axis=0), data[1::2].mean(axis=0)])
    factor = max(1, rate // ANALYSIS_RATE)
    if factor > 1:
        n = data.shape[1] // factor
        data = data[:, : n * factor].reshape(data.shape[0], n, factor).mean(axis=2)
    return np.ascontiguousarray(data, dtype=np.float32), rate // factor


def _to_channels(frame: av.AudioFrame) -> np.ndarray:
    array = frame.to_ndarray()
    if not frame.format.is_planar:  # interleaved: (1, n * channels)
        count = len(frame.layout.channels)
        array = array.reshape(-1, count).T
    return array.astype(np.float32, copy=False)


# --- loudness (ITU-R BS.1770-4) -----------------------------------------------------------


def _k_weighting(rate: int) -> np.ndarray:
    """The two K-weighting biquads (high shelf, then high pass) as SOS for any sample rate.

    Coefficients derived from the analogue prototypes as in libebur128, so they match the
    standard's 48 kHz tables and stay right at other rates."""
    f0, gain, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = math.tan(math.pi * f0 / rate)
    vh = 10.0 ** (gain / 20.0)
    vb = vh ** 0.4996667741545416
    a0 = 1.0 + k / q + k * k
    shelf = [(vh + vb * k / q + k * k) / a0, 2.0 * (k * k - vh) / a0, (vh - vb * k / q + k * k) / a0,
             1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0]
    f0, q = 38.13547087602444, 0.5003270373238773
    k = math.tan(math.pi * f0 / rate)
    a0 = 1.0 + k / q + k * k
    highpass = [1.0, -2.0, 1.0, 1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0]
    return np.array([shelf, highpass])


def integrated_loudness(samples: np.ndarray, rate: int) -> float | None:
    """Integrated loudness in LUFS of `samples` (shape (n,) mono or (channels, n) with L, R, C
    first), or None when the sound is silent (nothing above the -70 LUFS gate)."""
    data = np.atleast_2d(np.asarray(samples, dtype=np.float32))
    if data.shape[0] > data.shape[1] and data.shape[1] <= 8:
        data = data.T  # accept (n, channels) too
    n = data.shape[1]
    if n == 0:
        return None
    weighted = signal.sosfilt(_k_weighting(rate).astype(np.float32), data, axis=1)
    # Surround channels (4th and 5th after L, R, C, LFE) weigh 1.41; LFE is left out.
    weights = np.ones(data.shape[0])
    if data.shape[0] >= 6:
        weights[3] = 0.0
        weights[4:6] = 1.41
    power = (weights[:, None] * weighted.astype(np.float64) ** 2).sum(axis=0)

    hop = max(1, int(round(_HOP * rate)))
    per_block = int(round(_BLOCK / _HOP))
    if n < hop * per_block:
        blocks = np.array([power.mean()])  # shorter than one block: one block of what there is
    else:
        segments = n // hop
        seg_power = power[: segments * hop].reshape(segments, hop).sum(axis=1)
        window = np.convolve(seg_power, np.ones(per_block), mode="valid")
        blocks = window / (hop * per_block)
    with np.errstate(divide="ignore"):
        loudness = -0.691 + 10.0 * np.log10(blocks)
    gated = blocks[loudness > _ABSOLUTE_GATE]
    if gated.size == 0:
        return None
    relative = -0.691 + 10.0 * math.log10(gated.mean()) + _RELATIVE_GATE
    with np.errstate(divide="ignore"):
        final = gated[-0.691 + 10.0 * np.log10(gated) > relative]
    if final.size == 0:
        return None
    return float(-0.691 + 10.0 * math.log10(final.mean()))


# --- speech -------------------------------------------------------------------------------


def speech_spans(mono: np.ndarray, rate: int = ANALYSIS_RATE) -> tuple[tuple[float, float], ...]:
    """(start, end) seconds where the sound looks like talking.

    A stretch counts as speech when it is clearly above the background, most of its energy is
    in the voice band, and its loudness rises and falls at syllable rate (2-8 times a second):
    steady tones, hum and sustained music don't, voices do.
    """
    frame = max(16, int(round(_FRAME * rate / ANALYSIS_RATE)))
    count = mono.size // frame
    if count < _WINDOW // 2:
        return ()
    frames = mono[: count * frame].reshape(count, frame).astype(np.float32)
    spectrum = np.abs(np.fft.rfft(frames * np.hanning(frame).astype(np.float32), axis=1)) ** 2
    freqs = np.fft.rfftfreq(frame, 1.0 / rate)
    total = spectrum[:, freqs >= 60.0].sum(axis=1) + 1e-12
    band = spectrum[:, (freqs >= _VOICE_BAND[0]) & (freqs <= _VOICE_BAND[1])].sum(axis=1)
    share = band / total
    envelope = np.sqrt((frames.astype(np.float64) ** 2).mean(axis=1))
    level = 20.0 * np.log10(envelope + 1e-9)
    floor = float(np.percentile(level, 10))
    active = level > max(-55.0, floor + 6.0)
    peak = float(level.max())

    env_rate = rate / frame
    window = min(_WINDOW, count)
    mod_freqs = np.fft.rfftfreq(window, 1.0 / env_rate)
    syllable = (mod_freqs >= _SYLLABLE_BAND[0]) & (mod_freqs <= _SYLLABLE_BAND[1])
    taper = np.hanning(window)
    speechy = np.zeros(count, dtype=bool)
    for start in range(0, count - window + 1, _STEP):
        part = slice(start, start + window)
        env = envelope[part]
        mean = env.mean()
        if mean <= 0 or level[part].max() < peak - 35.0:
            continue
        mod = np.abs(np.fft.rfft((env - mean) * taper)) / (taper.sum() * mean)
        depth = float(mod[syllable].max()) * 2.0  # amplitude of the strongest syllable-rate swing
        voiced = active[part]
        if voiced.mean() < 0.25 or depth < 0.2:
            continue
        if float(np.median(share[part][voiced])) < 0.6:
            continue
        centre = slice(start + (window - _STEP) // 2, start + (window + _STEP) // 2)
        speechy[centre] = True
        if start == 0:
            speechy[: centre.start] = True
        if start + _STEP > count - window:
            speechy[centre.stop: count] = True
    return _spans(speechy, frame / rate)


def _spans(mask: np.ndarray, frame_seconds: float) -> tuple[tuple[float, float], ...]:
    """Runs of True as (start, end) seconds, closing gaps under 0.3 s, dropping runs under 0.3 s."""
    runs: list[list[float]] = []
    i, n = 0, mask.size
    while i < n:
        if not mask[i]:
            i += 1
            continue
        j = i
        while j < n and mask[j]:
            j += 1
        start, end = i * frame_seconds, j * frame_seconds
        if runs and start - runs[-1][1] < 0.3:
            runs[-1][1] = end
        else:
            runs.append([start, end])
        i = j
    return tuple((round(a, 2), round(b, 2)) for a, b in runs if b - a >= 0.3)
