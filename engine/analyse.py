"""Look at a video: per-second brightness, warmth and motion, and where the scene cuts are.

Decoding every picture of a long 1080p clip costs seconds, far more than the whole render may
take, so the analysis picks one of two passes by how many pixels the clip holds:

- Full pass (small/short clips): decode every picture in order, shrink each to a ~64 px wide
  thumbnail straight from its planes, and compare neighbours. Cuts are exact to the frame.
- Packet pass (everything bigger): read every video packet without decoding it (cheap), and
  decode only the keyframes. Encoders start a new keyframe at most scene cuts, and a cut that
  isn't a keyframe shows up as one picture far bigger than its neighbours, so both give cuts at
  the exact frame. Packet sizes relative to keyframe sizes give motion; the decoded keyframes
  give brightness and warmth, filled in between them within each scene. `sampled` is True.

Both passes read the file once, in order: never one seek per second.
"""

from __future__ import annotations

import math
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from engine.audio_analysis import analyse_audio
from engine.errors import InvalidMediaError
from engine.models import AudioAnalysis, MediaInfo, ProgressCallback, SceneCut, VideoAnalysis
from engine.probe import probe

# Pixels (width x height x frames) a clip may hold and still be decoded whole. 80 Mpx is about
# 0.15 s of decoding on two cores: 18 s of 320x240@25, or 3 s of 720p30.
FULL_DECODE_PIXELS = 80_000_000
_THUMB_WIDTH = 64
_MIN_SAMPLE_GAP = 0.25  # seconds between decoded keyframes in the packet pass (intra-only codecs)
_CUT_SCORE = 0.3  # picture-change score a full-pass cut must reach
_SPIKE_RATIO = 2.5  # a non-key packet this many times its biggest neighbour is a cut
_COMMON_GOPS = {12, 15, 24, 25, 30, 48, 50, 60, 72, 90, 96, 120, 125, 128, 150, 180, 240, 250,
                256, 300, 500, 600}
_EIGHT_BIT_YUV = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p"}


def analyse(
    path: Path | str,
    info: MediaInfo | None = None,
    progress: ProgressCallback | None = None,
) -> VideoAnalysis:
    """Analyse the picture and the sound of the clip at `path`."""
    path = Path(path)
    if info is None:
        info = probe(path)
    report = progress or (lambda stage, fraction: None)
    report("analyse", 0.0)
    if info.has_audio:
        # Sound and picture are read at the same time: PyAV and numpy release the GIL while
        # they decode and compute, so the two halves share our two cores.
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(analyse_audio, path, info)
            picture = analyse_picture(path, info, report)
            audio = pending.result()
    else:
        picture = analyse_picture(path, info, report)
        audio = AudioAnalysis(present=False, loudness_lufs=None, speech_ratio=0.0)
    report("analyse", 1.0)
    return VideoAnalysis(
        info=info,
        brightness=picture.brightness,
        warmth=picture.warmth,
        motion=picture.motion,
        cuts=picture.cuts,
        audio=audio,
        sampled=picture.sampled,
    )


@dataclass
class PictureAnalysis:
    brightness: tuple[float, ...]
    warmth: tuple[float, ...]
    motion: tuple[float, ...]
    cuts: tuple[SceneCut, ...]
    sampled: bool


def analyse_picture(
    path: Path,
    info: MediaInfo,
    progress: ProgressCallback | None = None,
    full_decode: bool | None = None,
) -> PictureAnalysis:
    """The picture half of analyse(). full_decode=None picks the pass by pixel count."""
    report = progress or (lambda stage, fraction: None)
    if full_decode is None:
        frames = max(1.0, info.duration * info.fps)
        full_decode = info.width * info.height * frames <= FULL_DECODE_PIXELS
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            video = container.streams.video[0]
            origin = _origin(container, video)
            if full_decode:
                return _full_pass(container, video, info, origin, report)
            return _packet_pass(container, video, info, origin, report)
    except av.error.FFmpegError:
        raise InvalidMediaError("The video is damaged: its pictures can't be read.") from None


# --- thumbnails -----------------------------------------------------------------------------


@dataclass
class _Thumb:
    time: float
    luma: np.ndarray  # ~36x64 float32, 0..255 full range
    brightness: float  # 0..1
    warmth: float  # -1..1
    hist: np.ndarray  # concatenated normalised Y/U/V histograms


def _plane(plane) -> np.ndarray:
    return np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, : plane.width]


def _shrink(array: np.ndarray, width: int) -> np.ndarray:
    """Block-average a plane down to about `width` columns (cheap: one reshape and mean)."""
    step = max(1, array.shape[1] // width)
    h = (array.shape[0] // step) * step
    w = (array.shape[1] // step) * step
    if step == 1:
        return array[:h, :w].astype(np.float32)
    return array[:h, :w].reshape(h // step, step, w // step, step).mean(axis=(1, 3), dtype=np.float32)


def _thumb(frame: av.VideoFrame, time: float) -> _Thumb:
    if frame.format.name not in _EIGHT_BIT_YUV:
        # 10-bit, RGB, NV12...: let swscale shrink and convert; rarer, so a little slower is fine.
        small_h = max(2, round(frame.height * _THUMB_WIDTH * 2 / max(1, frame.width)))
        frame = frame.reformat(width=_THUMB_WIDTH * 2, height=small_h, format="yuv444p")
    y = _shrink(_plane(frame.planes[0]), _THUMB_WIDTH)
    chroma_width = max(1, _THUMB_WIDTH * frame.planes[1].width // max(1, frame.width))
    u = _shrink(_plane(frame.planes[1]), chroma_width)
    v = _shrink(_plane(frame.planes[2]), chroma_width)
    full_range = frame.format.name.startswith("yuvj") or getattr(frame, "color_range", 0) == 2
    if not full_range:  # studio swing 16..235 -> 0..255
        y = np.clip((y - 16.0) * (255.0 / 219.0), 0.0, 255.0)
    brightness = float(y.mean()) / 255.0
    # Cr - Cb: positive for red/orange, negative for blue. 100 levels is a strongly tinted picture.
    warmth = float(np.clip((float(v.mean()) - float(u.mean())) / 100.0, -1.0, 1.0))
    hist = np.concatenate([
        np.histogram(y, bins=16, range=(0, 256))[0] / y.size,
        np.histogram(u, bins=8, range=(0, 256))[0] / u.size,
        np.histogram(v, bins=8, range=(0, 256))[0] / v.size,
    ])
    return _Thumb(time, y, brightness, warmth, hist)


def _change(a: _Thumb, b: _Thumb) -> float:
    """0..1: how different two pictures look (histogram distance, backed by pixel difference)."""
    hist = float(np.abs(a.hist - b.hist).sum()) / 6.0  # three histograms, each at most 2 apart
    mad = float(np.abs(a.luma - b.luma).mean()) / 64.0 if a.luma.shape == b.luma.shape else hist
    return min(1.0, 0.7 * hist + 0.3 * min(1.0, mad))


# --- full pass ------------------------------------------------------------------------------


def _full_pass(container, video, info: MediaInfo, origin: float, report) -> PictureAnalysis:
    video.thread_type = "AUTO"
    thumbs: list[_Thumb] = []
    for i, frame in enumerate(container.decode(video)):
        thumbs.append(_thumb(frame, _frame_time(frame, origin, len(thumbs), info.fps)))
        if i % 50 == 0 and info.duration > 0:
            report("analyse", min(0.9, 0.9 * thumbs[-1].time / info.duration))
    if not thumbs:
        raise InvalidMediaError("The video has no pictures we can decode.")
    thumbs.sort(key=lambda t: t.time)
    changes = [0.0] + [_change(a, b) for a, b in zip(thumbs, thumbs[1:])]
    cut_index = _peaks(changes, window=max(3, round(info.fps / 2)))
    cuts = tuple(
        SceneCut(time=round(thumbs[i].time, 4), strength=round(min(1.0, changes[i] / 0.6), 3))
        for i in cut_index
    )
    cut_set = set(cut_index)
    # Motion per picture: mean absolute luma change, leaving cut pictures out.
    mads = [
        (thumbs[i].time, float(np.abs(thumbs[i].luma - thumbs[i - 1].luma).mean()))
        for i in range(1, len(thumbs))
        if i not in cut_set
    ]
    seconds = _seconds(info.duration)
    motion = _per_second(seconds, [(t, 1.0 - math.exp(-m / 4.0)) for t, m in mads], default=0.0)
    brightness = _per_second(seconds, [(t.time, t.brightness) for t in thumbs], default=0.5)
    warmth = _per_second(seconds, [(t.time, t.warmth) for t in thumbs], default=0.0)
    return PictureAnalysis(brightness, warmth, motion, cuts, sampled=False)


def _peaks(scores: list[float], window: int) -> list[int]:
    """Indexes of isolated spikes: far above their neighbourhood and a local maximum."""
    out = []
    arr = np.asarray(scores)
    for i in range(1, len(arr)):
        s = arr[i]
        if s < _CUT_SCORE:
            continue
        lo, hi = max(1, i - window), min(len(arr), i + window + 1)
        neighbours = np.concatenate([arr[lo:i], arr[i + 1:hi]])
        if neighbours.size and s < 3.0 * float(np.median(neighbours)) + 0.05:
            continue  # a busy stretch (flashes, fast motion), not one clean cut
        near = arr[max(1, i - 2): i + 3]
        if s < near.max():
            continue
        out.append(i)
    return out


# --- packet pass ----------------------------------------------------------------------------


@dataclass
class _Packet:
    time: float
    size: int
    key: bool
    thumb: _Thumb | None = field(default=None)


def _packet_pass(container, video, info: MediaInfo, origin: float, report) -> PictureAnalysis:
    video.thread_type = "SLICE"  # frame threads would hold keyframes back; one at a time is fine
    codec = video.codec_context
    packets: list[_Packet] = []
    # A decoder with picture reordering (B-frames) hands a keyframe back only after later
    # packets, so decoded pictures are matched to their packet by timestamp, not by order.
    pending: dict[int, _Packet] = {}
    last_sample = -1e9

    def take(frames) -> None:
        for frame in frames:
            item = pending.pop(frame.pts, None) if frame.pts is not None else None
            if item is None and pending:
                item = pending.pop(min(pending))
            if item is not None:
                item.thumb = _thumb(frame, item.time)

    for packet in container.demux(video):
        if not packet.size:
            continue
        t = _packet_time(packet, origin, len(packets), info.fps)
        item = _Packet(t, packet.size, bool(packet.is_keyframe))
        packets.append(item)
        if item.key and t - last_sample >= _MIN_SAMPLE_GAP - 1e-6:
            last_sample = t
            pending[packet.pts if packet.pts is not None else len(packets)] = item
            try:
                take(codec.decode(packet))
            except av.error.FFmpegError:
                pass  # a damaged keyframe: keep its size, lose its picture
        if len(packets) % 300 == 0 and info.duration > 0:
            report("analyse", min(0.9, 0.9 * t / info.duration))
    try:
        take(codec.decode(None))  # pictures still held inside the decoder
    except av.error.FFmpegError:
        pass
    if not packets:
        raise InvalidMediaError("The video has no pictures we can decode.")
    reordered = any(b.time < a.time for a, b in zip(packets, packets[1:]))  # B-frames: demux order != display order
    packets.sort(key=lambda p: p.time)
    samples = [p.thumb for p in packets if p.thumb is not None]
    if not samples:
        raise InvalidMediaError("The video has no pictures we can decode.")

    cuts = _packet_cuts(packets, info.fps, reordered)
    seconds = _seconds(info.duration)
    cut_times = [c.time for c in cuts]
    brightness = _scene_fill(seconds, [(s.time, s.brightness) for s in samples], cut_times, 0.5)
    warmth = _scene_fill(seconds, [(s.time, s.warmth) for s in samples], cut_times, 0.0)
    motion = _packet_motion(packets, samples, seconds, set(cut_times))
    return PictureAnalysis(brightness, warmth, motion, tuple(cuts), sampled=True)


def _packet_cuts(packets: list[_Packet], fps: float, reordered: bool) -> list[SceneCut]:
    cuts: dict[int, float] = {}
    key_index = [i for i, p in enumerate(packets) if p.key]
    all_intra = len(key_index) > 0.5 * len(packets)

    if all_intra:
        # Every picture is a keyframe (MJPEG, ProRes...): compare the decoded samples instead.
        samples = [i for i in key_index if packets[i].thumb is not None]
        changes = [0.0] + [_change(packets[a].thumb, packets[b].thumb) for a, b in zip(samples, samples[1:])]
        for j in _peaks(changes, window=4):
            cuts[samples[j]] = min(1.0, changes[j] / 0.6)
    else:
        # 1) Keyframes off the encoder's regular schedule were placed there for a scene change.
        gaps = [b - a for a, b in zip(key_index, key_index[1:])]
        regular = _regular_gop(gaps, fps)
        for prev, i in zip(key_index, key_index[1:]):
            if regular is not None and abs((i - prev) - regular) <= 1:
                continue
            before, here = packets[prev].thumb, packets[i].thumb
            change = _change(before, here) if before is not None and here is not None else 0.5
            cuts[i] = 0.6 + 0.4 * min(1.0, change / 0.5)
        # 2) A non-key picture far bigger than every neighbour was coded almost from scratch.
        sizes = np.array([p.size for p in packets], dtype=np.float64)
        keyed = np.array([p.key for p in packets])
        window = max(3, round(fps / 2))
        key_ref = float(sizes[0])
        for i, p in enumerate(packets):
            if p.key or i == 0:
                key_ref = float(p.size)  # the latest keyframe: this scene's "from scratch" size
                continue
            lo, hi = max(0, i - window), min(len(packets), i + window + 1)
            around = np.concatenate([sizes[lo:i][~keyed[lo:i]], sizes[i + 1:hi][~keyed[i + 1:hi]]])
            biggest = float(around.max()) if around.size else 0.0
            if p.size > _SPIKE_RATIO * max(biggest, 1.0) and p.size > 0.25 * key_ref:
                ratio = p.size / max(biggest, 1.0)
                cuts[i] = min(1.0, 0.5 + 0.5 * (ratio - _SPIKE_RATIO) / 5.0)
        # 3) An abrupt, lasting change in how much every picture costs (a busy scene cut to a
        #    simple one, or back): the first picture of the new level starts the new scene.
        #    Only without B-frames: their tiny sizes between big P-frames fake such steps.
        if not reordered:
            for i, strength in _level_steps(sizes, keyed, window).items():
                cuts.setdefault(i, strength)
    # Keep one cut per ~2 frames and none on the very first picture.
    out: list[SceneCut] = []
    for i in sorted(cuts):
        t = packets[i].time
        if t <= 0.5 / max(fps, 1.0):
            continue
        if out and t - out[-1].time < 2.5 / max(fps, 1.0):
            if cuts[i] > out[-1].strength:
                out[-1] = SceneCut(round(t, 4), round(cuts[i], 3))
            continue
        out.append(SceneCut(round(t, 4), round(cuts[i], 3)))
    return out


def _level_steps(sizes: np.ndarray, keyed: np.ndarray, window: int) -> dict[int, float]:
    """Frames where the typical non-key packet size jumps by 4x or more and stays there."""
    idx = np.flatnonzero(~keyed)
    vals = np.log(np.maximum(sizes[idx], 1.0))
    n = vals.size
    if n < 2 * window + 1:
        return {}
    score = np.zeros(n)
    before = np.zeros(n)
    after = np.zeros(n)
    for j in range(window, n - window):
        before[j] = np.median(vals[j - window: j])
        after[j] = np.median(vals[j + 1: j + 1 + window])
        score[j] = abs(after[j] - before[j])
    found: dict[int, float] = {}
    limit = math.log(4.0)
    j = window
    while j < n - window:
        if score[j] < limit:
            j += 1
            continue
        # The plateau of high scores spans the frames around the step; the cut picture is the
        # one that splits it into two steady levels (it is left out of both: it is coded from
        # scratch, so its own size belongs to neither).
        end = j
        while end + 1 < n - window and score[end + 1] >= 0.8 * limit:
            end += 1
        span = range(max(window, j - 2), min(n - window, end + 3))
        best = min(span, key=lambda k: float(np.var(vals[k - window: k]) + np.var(vals[k + 1: k + 1 + window])))
        if score[best] >= limit:
            peak = float(score[span.start: span.stop].max())
            found[int(idx[best])] = 0.5 + 0.5 * min(1.0, (peak - limit) / math.log(10.0))
        j = end + window
    return found


def _regular_gop(gaps: list[int], fps: float) -> int | None:
    """The encoder's fixed keyframe interval in pictures, when the clip shows one."""
    if not gaps:
        return None
    value, count = Counter(gaps).most_common(1)[0]
    if count >= 2:
        return value
    longest = max(gaps)
    usual = set(_COMMON_GOPS) | {round(k * fps) for k in (0.5, 1, 2, 3, 4, 5, 10)}
    if any(abs(longest - g) <= 1 for g in usual):
        return longest
    return None


def _packet_motion(packets, samples, seconds: int, cut_times: set[float]) -> tuple[float, ...]:
    """Non-key packet size relative to the keyframe size: a still picture codes to almost
    nothing after its keyframe, a busy one to a good share of it."""
    keys = [p for p in packets if p.key]
    if len(keys) > 0.5 * len(packets):  # intra-only: use picture changes between samples
        pairs = [(b.time, 1.0 - math.exp(-float(np.abs(b.luma - a.luma).mean()) / 4.0))
                 for a, b in zip(samples, samples[1:])]
        return _per_second(seconds, pairs, default=0.0)
    key_times = np.array([p.time for p in keys])
    key_sizes = np.array([p.size for p in keys], dtype=np.float64)
    values = []
    for p in packets:
        if p.key or round(p.time, 4) in cut_times:
            continue
        j = max(0, int(np.searchsorted(key_times, p.time)) - 1)
        ratio = p.size / max(1.0, key_sizes[j])
        values.append((p.time, 1.0 - math.exp(-ratio / 0.8)))
    return _per_second(seconds, values, default=0.0)


# --- time helpers ---------------------------------------------------------------------------


def _origin(container, video) -> float:
    if video.start_time is not None and video.time_base:
        return float(video.start_time * video.time_base)
    if container.start_time is not None:
        return container.start_time / av.time_base
    return 0.0


def _frame_time(frame, origin: float, index: int, fps: float) -> float:
    if frame.pts is not None and frame.time_base is not None:
        return max(0.0, float(frame.pts * frame.time_base) - origin)
    return index / fps if fps > 0 else 0.0


def _packet_time(packet, origin: float, index: int, fps: float) -> float:
    stamp = packet.pts if packet.pts is not None else packet.dts
    if stamp is not None and packet.time_base is not None:
        return max(0.0, float(stamp * packet.time_base) - origin)
    return index / fps if fps > 0 else 0.0


def _seconds(duration: float) -> int:
    return max(1, int(math.ceil(duration - 0.05)))


def _per_second(seconds: int, values: list[tuple[float, float]], default: float) -> tuple[float, ...]:
    """Mean of the values falling in each second; empty seconds take their neighbour's value."""
    sums = np.zeros(seconds)
    counts = np.zeros(seconds)
    for t, v in values:
        s = min(seconds - 1, max(0, int(t)))
        sums[s] += v
        counts[s] += 1
    out = [None if counts[s] == 0 else float(sums[s] / counts[s]) for s in range(seconds)]
    return _fill(out, default)


def _fill(values: list[float | None], default: float) -> tuple[float, ...]:
    known = [i for i, v in enumerate(values) if v is not None]
    if not known:
        return tuple(default for _ in values)
    filled = np.interp(range(len(values)), known, [values[i] for i in known])
    return tuple(round(float(v), 4) for v in filled)


def _scene_fill(seconds: int, samples: list[tuple[float, float]], cut_times: list[float],
                default: float) -> tuple[float, ...]:
    """Value at the middle of each second from sparse samples, interpolating only within a
    scene (a cut starts a new look), and across scenes only when a scene has no sample."""
    if not samples:
        return tuple(default for _ in range(seconds))
    times = np.array([t for t, _ in samples])
    vals = np.array([v for _, v in samples])
    bounds = [0.0] + sorted(cut_times) + [float("inf")]
    out = []
    for s in range(seconds):
        mid = s + 0.5
        k = int(np.searchsorted(bounds, mid, side="right")) - 1
        lo, hi = bounds[k], bounds[k + 1]
        inside = (times >= lo - 1e-6) & (times < hi)
        if inside.any():
            out.append(float(np.interp(mid, times[inside], vals[inside])))
        else:
            out.append(float(np.interp(mid, times, vals)))
    return tuple(round(v, 4) for v in out)
