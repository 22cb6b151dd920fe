"""Put the music under the clip's own sound and write the final MP4 in one ffmpeg pass.

The mix happens in numpy (fast and exact): the music is levelled against the original sound,
ducked while someone speaks, faded in and out, then the whole mix is normalised to a loudness
target (BS.1770 integrated) with a true-peak ceiling. ffmpeg then runs once, to encode the AAC
track and mux it with the video, which is copied untouched whenever MP4 allows it.
"""

from __future__ import annotations

import logging
import math
import os
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from scipy.io import wavfile
from scipy.ndimage import minimum_filter1d, uniform_filter1d
from scipy.signal import firwin, sosfilt

from engine.errors import EngineError
from engine.ffmpeg import ffmpeg_path, run_ffmpeg
from engine.models import MediaInfo, Title
from engine.mux import can_copy_video, encode_aac_on_two_cores, mux_args, video_stream_end

log = logging.getLogger(__name__)

RATE = 48000
# How much further the music drops while someone speaks, and how gently it moves.
DUCK_DB = -8.0
DUCK_ATTACK = 0.25  # seconds to go down, ending where the speech starts
DUCK_RELEASE = 0.5  # seconds to come back up after it ends
# AAC encoding lifts inter-sample peaks a little; aim under the ceiling so the file stays under it.
TRUE_PEAK_MARGIN_DB = 0.6
MAX_MAKEUP_DB = 6.0  # how much louder than plain gain the limiter may be pushed to reach the target
SILENT_LUFS = -70.0  # reported for a mix with nothing above BS.1770's absolute gate
# From this length on, with a core to spare, the sound is encoded as two halves at once
# (encode_aac_on_two_cores); shorter clips gain less than the extra ffmpeg start-ups cost.
PARALLEL_AAC_SECONDS = 10.0
# The 1-minute load average counts this engine too (about a core while it runs): up to `cores`
# the second encoder still found a core (measured gains at load 0.7-1.8 on 2 cores, a loss at ~4).
SPARE_CORE_MARGIN = 1.0


@dataclass(frozen=True)
class MixResult:
    output: Path
    video_copied: bool  # True when the video stream was copied untouched
    loudness_lufs: float  # integrated loudness of the final mix (before AAC)
    true_peak_db: float  # its true peak, dBTP
    music_volume: float  # the share asked for


def mix_and_mux(
    video: Path,
    music_wav: Path,
    output: Path,
    *,
    info: MediaInfo,
    music_volume: float,
    speech_spans: Sequence[tuple[float, float]] = (),
    has_original_audio: bool,
    loudness_lufs: float = -14.0,
    true_peak_db: float = -1.0,
    trim_start: float = 0.0,
    trim_end: float | None = None,
    titles: Sequence[Title] = (),
    metadata: dict[str, str] | None = None,
    progress: Callable[[float], None] | None = None,
    clip_sound: "ClipSound | None" = None,
) -> MixResult:
    """Write `output` (MP4): the video of `video` with the music mixed under its own sound.

    `clip_sound`, when given, is the clip's sound already decoding (see ClipSound, started with
    the same trim): the mix uses it, and the file it decodes into, instead of decoding again.
    """
    video, music_wav, output = Path(video), Path(music_wav), Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    # The sound lives in files next to the output, read and written a chunk at a time:
    # a ten-minute clip costs no more RAM than a ten-second one.
    with tempfile.TemporaryDirectory(prefix=".aiwm-mix-", dir=output.parent) as work_dir:
        work = Path(work_dir)
        sound = clip_sound or ClipSound(video, info, work, trim_start=trim_start, trim_end=trim_end,
                                        decode=has_original_audio)
        start, length, frames, raw = sound.start, sound.length, sound.frames, sound.path
        copy_video = can_copy_video(video, info, start, titles)
        try:
            music = _open_music(music_wav, frames, work)  # read while the clip's sound decodes
            has_sound = has_original_audio and sound.wait()
        finally:
            sound.close()
        if not has_sound:
            _zero_file(raw, frames)
        loudness, peak_db = _mix_into(_Frames(frames, path=raw), music, has_original=has_sound,
                                      music_volume=music_volume, speech_spans=speech_spans,
                                      target_lufs=loudness_lufs, ceiling_db=true_peak_db - TRUE_PEAK_MARGIN_DB)
        if progress:
            progress(0.25)
        encoded = None
        if copy_video and length >= PARALLEL_AAC_SECONDS and _core_to_spare():
            # With the video copied, encoding the sound is nearly all the mux's work: do it on
            # both cores, then mux by copying both streams.
            encoded = encode_aac_on_two_cores(raw, frames, work / "sound.aac", work=work)
        args = mux_args(video, raw, output, info=info, start=start, length=length,
                        trim_end=trim_end, copy_video=copy_video, titles=titles, metadata=metadata or {},
                        work=work, encoded_audio=encoded)
        scaled = None
        if progress:
            scaled = lambda f: progress(0.25 + 0.75 * f)  # noqa: E731
        run_ffmpeg(args, duration=length, progress=scaled, what="mix the music into the video")
    return MixResult(output=output, video_copied=copy_video, loudness_lufs=loudness,
                     true_peak_db=peak_db, music_volume=music_volume)


class ClipSound:
    """The clip's own sound (the kept window), decoding in the background to a raw float32 stereo
    48 kHz file in `work`.

    Starting it before analysis and synthesis lets ffmpeg decode on a spare core while they run;
    `mix_and_mux` then only waits for what is left. Always `close()` it (or use `with`): that
    stops a decode nobody waited for.
    """

    def __init__(self, video: Path, info: MediaInfo, work: Path, *, trim_start: float = 0.0,
                 trim_end: float | None = None, decode: bool = True) -> None:
        video = Path(video)
        self.start = max(0.0, trim_start)
        stream_end = video_stream_end(video, info)
        end = stream_end if trim_end is None else min(trim_end, stream_end)
        self.length = end - self.start
        if self.length <= 0:
            raise EngineError("The trim leaves no video to work with.")
        self.frames = int(round(self.length * RATE))
        self.path = Path(work) / "clip.f32"
        self._process = (_start_decode(video, self.start, self.length, self.path)
                         if decode and info.has_audio else None)
        self._decoded: bool | None = None

    def wait(self) -> bool:
        """True when the sound is in `path`, exactly `frames` long; False when there is none."""
        if self._decoded is None:
            self._decoded = (_finish_decode(self._process, self.path, self.frames)
                             if self._process is not None else False)
        return self._decoded

    def close(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.communicate()

    def __enter__(self) -> "ClipSound":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _core_to_spare() -> bool:
    """True when a second core is free for a second AAC encoder, judged by the last minute's load.
    On a busy machine two encoders only take turns on the same cores, and the split then costs
    more (two start-ups, the warm-up frames, a mux pass) than it saves."""
    cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:
        return False
    return cores > 1 and load <= cores - 1 + SPARE_CORE_MARGIN


# --- the audio -----------------------------------------------------------------------------


class _Frames:
    """frames x 2 float32 audio read and written a chunk at a time: an array in memory, or a raw
    file that is never loaded or mapped whole, so memory does not grow with the clip's length."""

    def __init__(self, frames: int, *, array: np.ndarray | None = None, path: Path | None = None) -> None:
        self.frames, self.array, self.path = frames, array, path

    def __len__(self) -> int:
        return self.frames

    def read(self, a: int, b: int) -> np.ndarray:
        if self.array is not None:
            return self.array[a:b]
        return np.fromfile(self.path, dtype="<f4", count=(b - a) * 2, offset=a * 8).reshape(-1, 2)

    def write(self, a: int, data: np.ndarray) -> None:
        if self.array is not None:
            self.array[a: a + len(data)] = data
            return
        with open(self.path, "r+b") as f:
            f.seek(a * 8)
            f.write(np.ascontiguousarray(data, dtype="<f4").tobytes())


class _Music:
    """The music as float32 stereo chunks, exactly `frames` long (cut or zero-padded), faded in
    and out; `read(a, b)` gives the stored frames a..b (fewer at the end), any dtype, 1-2 channels."""

    def __init__(self, read: Callable[[int, int], np.ndarray], available: int, scale: float, frames: int,
                 fade: bool = True) -> None:
        self.read, self.available, self.scale, self.frames = read, available, np.float32(scale), frames
        seconds = frames / RATE
        self.fade_in = int(min(0.5, 0.1 * seconds) * RATE) if fade else 0
        self.fade_out = int(min(2.0, 0.15 * seconds) * RATE) if fade else 0

    def chunk(self, a: int, b: int) -> np.ndarray:
        out = np.zeros((b - a, 2), dtype=np.float32)
        have = max(0, min(b, self.available) - a)
        if have:
            part = self.read(a, a + have)
            out[:have] = part.reshape(have, -1)  # a mono column spreads over both channels
            if self.scale != 1.0:
                out[:have] *= self.scale
        if a < self.fade_in:
            end = min(b, self.fade_in)
            out[: end - a] *= _ramp(self.fade_in)[a:end, None]
        first = self.frames - self.fade_out
        if b > first and self.fade_out > 1:
            begin = max(a, first)
            out[begin - a:] *= _ramp(self.fade_out)[::-1][begin - first: b - first, None]
        return out


def _open_music(path: Path, frames: int, work: Path) -> _Music:
    """16/32-bit integer and float WAVs at 48 kHz are read from disk chunk by chunk; anything else
    (another rate, more channels, another format) is decoded by ffmpeg into a raw file first."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", wavfile.WavFileWarning)  # unknown chunks are fine
            rate, data = wavfile.read(str(path), mmap=True)  # only to find where the samples are
        dtype, shape, offset = data.dtype, data.shape, int(data.offset)
        del data
    except (ValueError, OSError, EOFError, AttributeError):
        rate, dtype, shape, offset = 0, None, (0,), 0
    scale = _WAV_SCALES.get(str(dtype))
    channels = shape[1] if len(shape) == 2 else 1
    if rate == RATE and scale is not None and channels <= 2:
        def read(a: int, b: int) -> np.ndarray:
            count = (b - a) * channels
            return np.fromfile(path, dtype=dtype, count=count, offset=offset + a * channels * dtype.itemsize)
        return _Music(read, shape[0], scale, frames)
    raw = work / "music.f32"
    if not _finish_decode(_start_decode(path, 0.0, None, raw), raw, frames):
        raise EngineError("Could not read the music track.")
    return _Music(_Frames(frames, path=raw).read, frames, 1.0, frames)


_WAV_SCALES = {"int16": 1.0 / 32768.0, "int32": 1.0 / 2147483648.0, "float32": 1.0, "float64": 1.0}


def _start_decode(path: Path, start: float, length: float | None, dest: Path) -> subprocess.Popen:
    """Start ffmpeg decoding the first audio stream to a raw float32 stereo 48 kHz file."""
    command = [ffmpeg_path(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    if start > 0:
        command += ["-ss", f"{start:.6f}"]
    command += ["-i", str(path)]
    if length is not None:
        command += ["-t", f"{length:.6f}"]
    command += ["-map", "0:a:0", "-vn", "-ac", "2", "-ar", str(RATE), "-f", "f32le", str(dest)]
    return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _finish_decode(process: subprocess.Popen, dest: Path, frames: int) -> bool:
    """Wait for the decode; make the file exactly `frames` long (cut, or padded with silence).
    False when the sound could not be read (then the music plays alone)."""
    _, errors = process.communicate()
    if process.returncode != 0 or not dest.exists():
        log.debug("audio decode failed: %s", errors.decode("utf-8", "replace")[-1000:])
        dest.unlink(missing_ok=True)
        return False
    os.truncate(dest, frames * 2 * 4)
    return True


def _zero_file(dest: Path, frames: int) -> None:
    with open(dest, "wb") as f:
        f.truncate(frames * 2 * 4)  # a sparse file of silence


def _ramp(n: int) -> np.ndarray:
    return (0.5 - 0.5 * np.cos(np.linspace(0.0, math.pi, n))).astype(np.float32)


class _DuckCurve:
    """Music gain over time: 1 outside speech, `duck_db` lower inside it, with eased ramps.

    Drawn at 100 points a second; interpolated frame by frame only where it dips below 1, so an
    hour of music with a few spans costs next to nothing.
    """

    CONTROL_RATE = 100

    def __init__(self, frames: int, spans: Sequence[tuple[float, float]], duck_db: float = DUCK_DB) -> None:
        points = int(math.ceil(frames / RATE * self.CONTROL_RATE)) + 1
        self.times = np.arange(points) / self.CONTROL_RATE
        depth = np.zeros(points)  # 0 = no ducking, 1 = fully ducked
        for span_start, span_end in spans:
            if span_end <= span_start:
                continue
            going_down = np.clip((self.times - (span_start - DUCK_ATTACK)) / DUCK_ATTACK, 0.0, 1.0)
            coming_up = np.clip(1.0 - (self.times - span_end) / DUCK_RELEASE, 0.0, 1.0)
            depth = np.maximum(depth, np.minimum(going_down, coming_up))
        depth = 0.5 - 0.5 * np.cos(math.pi * depth)  # ease in and out of each ramp
        self.gain = 10.0 ** (duck_db * depth / 20.0)
        # Frame ranges where the gain dips: from the control point before to the one after.
        ducked = np.flatnonzero(depth > 0)
        self.ranges: list[tuple[int, int]] = []
        if ducked.size:
            breaks = np.flatnonzero(np.diff(ducked) > 1)
            for first, last in zip(np.r_[ducked[0], ducked[breaks + 1]], np.r_[ducked[breaks], ducked[-1]]):
                a = max(0, int((first - 1) * RATE / self.CONTROL_RATE))
                b = min(frames, int((last + 1) * RATE / self.CONTROL_RATE) + 1)
                self.ranges.append((a, b))
        centres = (np.arange(frames // _LIMIT_BLOCK) + 0.5) * (_LIMIT_BLOCK / RATE)
        self.per_ms = np.interp(centres, self.times, self.gain)

    def apply(self, chunk: np.ndarray, start: int) -> None:
        """Duck `chunk` (frames start.. of the music) in place."""
        end = start + len(chunk)
        for a, b in self.ranges:
            a, b = max(a, start), min(b, end)
            if a < b:
                at = np.arange(a, b, dtype=np.float64) / RATE
                chunk[a - start: b - start] *= np.interp(at, self.times, self.gain).astype(np.float32)[:, None]


def duck(music: np.ndarray, spans: Sequence[tuple[float, float]], duck_db: float = DUCK_DB) -> np.ndarray:
    """Lower `music` (in place) by `duck_db` during `spans`; returns the gain per millisecond."""
    curve = _DuckCurve(len(music), spans, duck_db)
    curve.apply(music, 0)
    return curve.per_ms


def mix_audio(music: np.ndarray, original: np.ndarray | None, *, music_volume: float,
              speech_spans: Sequence[tuple[float, float]] = (), target_lufs: float = -14.0,
              ceiling_db: float = -1.6) -> tuple[np.ndarray, float, float]:
    """The final mix (frames x 2, float32) of in-memory signals; see `_mix_into`.
    Works in place on `original` when given; returns (mix, LUFS, dBTP)."""
    mixed = original if original is not None else np.zeros((len(music), 2), dtype=np.float32)
    source = _Music(lambda a, b: music[a:b], len(music), 1.0, len(music), fade=False)
    loudness, peak = _mix_into(_Frames(len(music), array=mixed), source, has_original=original is not None,
                               music_volume=music_volume, speech_spans=speech_spans,
                               target_lufs=target_lufs, ceiling_db=ceiling_db)
    return mixed, loudness, peak


def _mix_into(mixed: _Frames, music: _Music, *, has_original: bool, music_volume: float,
              speech_spans: Sequence[tuple[float, float]], target_lufs: float,
              ceiling_db: float) -> tuple[float, float]:
    """Turn `mixed` (the clip's sound, or silence) into the final mix, in place, chunk by chunk.

    `music_volume` is a share: 1.0 makes the music as loud as the clip's own sound, 0.35 about
    9 dB under it, ducked a further 8 dB during `speech_spans`. Without an audible original the
    music plays alone. The result sits at `target_lufs` with true peaks under `ceiling_db`;
    returns (integrated LUFS, true peak dBTP).

    K-weighting is linear, so the mix's weighted energy per millisecond is the original's plus
    g^2 times the music's plus 2g times their cross term, with g the music's (slow) gain. One
    filtering pass gathers those three per-millisecond sums; every level decision after that
    is arithmetic on them, not another pass of filtering.
    """
    volume = max(0.0, music_volume)
    music_ms, original_ms, cross_ms = _weighted_stats(music, mixed if has_original else None)
    gain = volume
    curve = None
    if has_original:
        original_lufs = _gated_loudness(_block_powers(original_ms, _LIMIT_BLOCK))
        music_lufs = _gated_loudness(_block_powers(music_ms, _LIMIT_BLOCK))
        if original_lufs is not None and music_lufs is not None:
            gain = volume * 10.0 ** ((original_lufs - music_lufs) / 20.0)
            if speech_spans and gain > 0:
                curve = _DuckCurve(music.frames, speech_spans)
    per_ms_gain = gain if curve is None else curve.per_ms * gain
    energy_ms = music_ms * per_ms_gain**2
    if has_original:
        energy_ms += original_ms + 2.0 * per_ms_gain * cross_ms
    for start in range(0, len(mixed), _CHUNK):
        part = music.chunk(start, min(start + _CHUNK, len(mixed)))
        part *= np.float32(gain)
        if curve is not None:
            curve.apply(part, start)
        if has_original:
            part += mixed.read(start, start + len(part))
        mixed.write(start, part)
    return _normalise(mixed, energy_ms, target_lufs, ceiling_db)


def _normalise(mixed: _Frames, energy_ms: np.ndarray, target_lufs: float,
               ceiling_db: float) -> tuple[float, float]:
    """Gain to the target, with a look-ahead true-peak limiter; the gain is re-aimed to make up
    for what the limiter takes. The search works on millisecond blocks (energy and peaks), so
    each round is arithmetic on a few thousand numbers a minute, not another pass over the audio.
    """
    loudness = _gated_loudness(_block_powers(energy_ms, _LIMIT_BLOCK))
    if loudness is None:
        peak = max((float(_largest_magnitude(mixed.read(a, a + _CHUNK)).max(initial=0.0))
                    for a in range(0, len(mixed), _CHUNK)), default=0.0)
        return SILENT_LUFS, _db(peak)
    ceiling = 10.0 ** (ceiling_db / 20.0)
    gain = 10.0 ** ((target_lufs - loudness) / 20.0)
    max_gain = gain * 10.0 ** (MAX_MAKEUP_DB / 20.0)
    # Music and speech do not peak 3 dB over their samples between them (that needs energy right
    # at the Nyquist frequency), so frames 3 dB under the ceiling at the largest gain are safe.
    block_peaks = _block_true_peaks(mixed, floor=ceiling / max_gain * 10.0 ** (-3.0 / 20.0))
    for _ in range(12):
        limiter = _limiter_blocks(block_peaks * gain, ceiling)
        shaped = energy_ms if limiter is None else energy_ms * limiter[: len(energy_ms)] ** 2
        loudness = (_gated_loudness(_block_powers(shaped, _LIMIT_BLOCK)) or SILENT_LUFS) + _db(gain)
        if abs(loudness - target_lufs) < 0.05 or gain >= max_gain:
            break
        gain = min(gain * 10.0 ** ((target_lufs - loudness) / 20.0), max_gain)
        limiter = _limiter_blocks(block_peaks * gain, ceiling)  # always matches the gain kept
    if limiter is None:
        for start in range(0, len(mixed), _CHUNK):
            mixed.write(start, mixed.read(start, start + _CHUNK) * np.float32(gain))
        peak = float(block_peaks.max(initial=0.0)) * gain
    else:
        for start in range(0, len(mixed), _CHUNK):  # per-frame gains a chunk at a time: little memory
            part = mixed.read(start, start + _CHUNK)
            mixed.write(start, part * (_per_frame(limiter, start, len(part)) * np.float32(gain))[:, None])
        peak = float(np.max(block_peaks * limiter)) * gain
    return loudness, _db(peak)


def _weighted_stats(music: _Music, original: _Frames | None):
    """Per millisecond: K-weighted energy of the music, of the original, and their cross term
    (each summed over channels); the last two are None without an original. Filtered in chunks
    (the filter state carries over), so no weighted copy of a whole signal is ever held."""
    state_music = np.zeros((len(_K_WEIGHTING), 2, 2), dtype=np.float32)
    state_original = state_music.copy()
    music_ms, original_ms, cross_ms = [], [], []
    for start in range(0, music.frames, _CHUNK):
        end = min(start + _CHUNK, music.frames)
        weighted_music, state_music = sosfilt(_K_WEIGHTING, music.chunk(start, end), axis=0, zi=state_music)
        music_ms.append(_block_sums(_channel_products(weighted_music, weighted_music), _LIMIT_BLOCK))
        if original is not None:
            weighted, state_original = sosfilt(_K_WEIGHTING, original.read(start, end),
                                               axis=0, zi=state_original)
            original_ms.append(_block_sums(_channel_products(weighted, weighted), _LIMIT_BLOCK))
            cross_ms.append(_block_sums(_channel_products(weighted, weighted_music), _LIMIT_BLOCK))
    join = lambda parts: np.concatenate(parts) if parts else np.zeros(0)  # noqa: E731
    if original is None:
        return join(music_ms), None, None
    return join(music_ms), join(original_ms), join(cross_ms)


def _channel_products(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per frame, the sum over channels of a*b (column by column: far faster than an axis-1
    reduction over a frames x 2 array)."""
    total = a[:, 0] * b[:, 0]
    for c in range(1, a.shape[1]):
        total += a[:, c] * b[:, c]
    return total


def _largest_magnitude(samples: np.ndarray) -> np.ndarray:
    """Per frame, the largest absolute value over the channels."""
    largest = np.abs(samples[:, 0])
    for c in range(1, samples.shape[1]):
        np.maximum(largest, np.abs(samples[:, c]), out=largest)
    return largest


def _block_true_peaks(samples: _Frames, floor: float) -> np.ndarray:
    """Per millisecond, the largest 4x-oversampled value over all channels (true peak,
    BS.1770-4 annex 2). Only frames next to a sample above `floor` are interpolated: skipping
    the quiet ones keeps this cheap, and they cannot hold a peak that matters."""
    blocks = []
    taps = _UPSAMPLE.shape[0]
    for start in range(0, len(samples), _CHUNK):
        end = min(start + _CHUNK, len(samples))
        before = min(start, taps)  # neighbours the filter needs on each side of the chunk
        data = samples.read(start - before, min(end + taps, len(samples)))
        peaks = _largest_magnitude(data[before: before + end - start])
        hot_mask = peaks > floor
        if hot_mask.any():
            hot_mask[:-1] |= hot_mask[1:]  # the peak may sit between the frame before and a hot one
            hot = np.flatnonzero(hot_mask)
            # Values at t = m + 1/8, 3/8, 5/8, 7/8 from the polyphase filter (its delay is
            # _UPSAMPLE_DELAY frames); indices past either end of the audio repeat the edge frame.
            window = np.clip(hot[:, None] + (before + _UPSAMPLE_DELAY) - np.arange(taps)[None, :], 0, len(data) - 1)
            for c in range(data.shape[1]):
                between = np.abs(data[window, c] @ _UPSAMPLE).max(axis=1)
                np.maximum.at(peaks, hot, between)
        blocks.append(_block_max(peaks, _LIMIT_BLOCK))
    return np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)


def _limiter_blocks(block_peaks: np.ndarray, ceiling: float) -> np.ndarray | None:
    """Per-millisecond gain keeping every peak under `ceiling` in ~10 ms ramps; None if not needed.

    A minimum over 13 blocks, then a moving average over 11: each block's gain averages values
    that are all <= what it and both its neighbours need, so no peak escapes, even between
    block centres (`_per_frame` interpolates), and the gain moves in ramps, not steps (no clicks).
    """
    needed = np.minimum(1.0, ceiling / np.maximum(block_peaks, 1e-12))
    if needed.min() >= 1.0:
        return None
    smooth = uniform_filter1d(minimum_filter1d(needed, size=13, mode="nearest"), size=11, mode="nearest")
    return np.minimum(smooth, needed)  # float rounding in the average must not let a peak through


def _per_frame(block_gain: np.ndarray, start: int, frames: int) -> np.ndarray:
    """Gains for frames start..start+frames, interpolated between millisecond-block centres."""
    centres = (np.arange(len(block_gain)) + 0.5) * _LIMIT_BLOCK - 0.5
    at = np.arange(start, start + frames, dtype=np.float64)
    return np.interp(at, centres, block_gain).astype(np.float32)


def _block_max(values: np.ndarray, size: int) -> np.ndarray:
    blocks = -(-len(values) // size)
    padded = np.zeros(blocks * size, dtype=values.dtype)
    padded[: len(values)] = values
    return padded.reshape(blocks, size).max(axis=1)


def _block_sums(values: np.ndarray, size: int) -> np.ndarray:
    """Sums over whole blocks of `size` frames (a trailing partial block is dropped)."""
    blocks = len(values) // size
    return values[: blocks * size].reshape(blocks, size).sum(axis=1, dtype=np.float64)


def true_peak(samples: np.ndarray) -> float:
    """Linear true peak of float samples (frames x channels), 4x oversampled."""
    frames = _Frames(len(samples), array=np.asarray(samples, dtype=np.float32))
    return float(_block_true_peaks(frames, floor=0.0).max(initial=0.0))


def _db(linear: float) -> float:
    return 20.0 * math.log10(linear) if linear > 0 else -120.0


# --- loudness (ITU-R BS.1770-4) and true peak ------------------------------------------------

# K-weighting at 48 kHz as two biquads: a high shelf (head effects) then a high-pass (RLB).
_K_WEIGHTING = np.array([
    [1.53512485958697, -2.69169618940638, 1.19839281085285, 1.0, -1.69065929318241, 0.73248077421585],
    [1.0, -2.0, 1.0, 1.0, -1.99004745483398, 0.99007225036621],
], dtype=np.float32)
_BLOCK = int(0.4 * RATE)  # gating blocks of 400 ms ...
_STEP = int(0.1 * RATE)  # ... overlapping by 75 %

# 4x oversampling filter (48 taps as in BS.1770-4 annex 2), as a 12 x 4 polyphase matrix:
# column k gives the value k/4 of a frame after the sample it starts from.
_FIR = firwin(48, 0.23, window=("kaiser", 6.0))
_UPSAMPLE = (_FIR / _FIR.sum() * 4.0).reshape(12, 4).astype(np.float32)
_UPSAMPLE_DELAY = 6  # frames; the filter's group delay (23.5 / 4) rounded up
_LIMIT_BLOCK = RATE // 1000  # the limiter (and the loudness search) works per millisecond
_CHUNK = 10 * RATE  # long passes go 10 s at a time (a whole number of milliseconds)


def _block_powers(energy: np.ndarray, frames_each: int = 1) -> np.ndarray:
    """Mean power of each 400 ms gating block, the blocks starting every 100 ms.

    `energy` holds per-frame values, or sums over `frames_each` frames. Sums per 100 ms step
    first, then each block is four consecutive steps; a trailing partial block is left out,
    as the standard says.
    """
    step = _STEP // frames_each
    if len(energy) * frames_each < _BLOCK:
        return np.array([float(energy.sum(dtype=np.float64)) / max(len(energy) * frames_each, 1)])
    per_step = _block_sums(energy, step)
    per_block = per_step[:-3] + per_step[1:-2] + per_step[2:-1] + per_step[3:]
    return per_block / _BLOCK


def _gated_loudness(powers: np.ndarray) -> float | None:
    with np.errstate(divide="ignore"):
        block_lufs = -0.691 + 10.0 * np.log10(np.maximum(powers, 0.0))
    loud = block_lufs > -70.0  # the absolute gate
    if not loud.any():
        return None
    relative = -0.691 + 10.0 * math.log10(powers[loud].mean()) - 10.0
    return -0.691 + 10.0 * math.log10(powers[loud & (block_lufs > relative)].mean())


__all__ = ["MixResult", "ClipSound", "mix_and_mux", "mix_audio", "true_peak", "duck"]
