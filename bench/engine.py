"""Engine speed and memory against the floor, measured in the same run.

For 15 s, 60 s and 180 s 1080p30 H.264 clips with scene cuts at known, irregular times:
- floor:  ffmpeg copying the video and encoding a ready-made WAV of the same length to AAC,
          with +faststart (what any "add an audio track" tool must at least do);
- engine: `engine.pipeline.make` on the same clip (probe, analyse, choose, compose, synthesise,
          mix, mux), in a fresh process so its peak memory is its own.
Prints wall-time and peak-memory ratios, and the share of scene cuts within 100 ms of a beat.

    .venv/bin/python bench/engine.py [--lengths 15 60 180] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def make_clip(path: Path, seconds: float, seed: int = 1) -> list[float]:
    """A 1080p30 H.264 clip with a soundtrack and hard cuts at irregular times; returns the cut times."""
    rng = random.Random(seed)
    lengths, total = [], 0.0
    while total < seconds:
        # whole frames, so the known cut times are exact (lavfi rounds a partial frame up)
        step = min(round(rng.uniform(2.0, 7.0) * 30) / 30, seconds - total)
        lengths.append(step)
        total += step
    args = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y"]
    for index, length in enumerate(lengths):
        look = f"hue=h={index * 47 % 360}" + (",negate" if index % 2 else "")  # a clear change at each cut
        args += ["-f", "lavfi", "-i", f"testsrc2=s=1920x1080:r=30:d={length},{look}"]
    args += ["-f", "lavfi", "-i", f"anoisesrc=color=pink:amplitude=0.1:d={seconds}"]
    graph = "".join(f"[{i}:v]" for i in range(len(lengths))) + f"concat=n={len(lengths)}:v=1:a=0[v]"
    args += ["-filter_complex", graph, "-map", "[v]", "-map", f"{len(lengths)}:a",
             # superfast keeps x264's scene-cut keyframes, as editing apps' exports have them
             "-c:v", "libx264", "-preset", "superfast", "-pix_fmt", "yuv420p", "-g", "250",
             "-c:a", "aac", "-ar", "48000", "-t", str(seconds), str(path)]
    subprocess.run(args, check=True)
    cuts, at = [], 0.0
    for length in lengths[:-1]:
        at += length
        cuts.append(round(at * 30) / 30)
    return cuts


def write_wav(path: Path, seconds: float, rate: int = 48000) -> None:
    """A ready-made stereo WAV (a quiet tone) the floor only has to encode."""
    import numpy as np

    t = np.arange(int(seconds * rate)) / rate
    tone = (0.2 * np.sin(2 * np.pi * 220 * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.repeat(tone, 2).tobytes())


def run_measured(args: list[str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS in KiB (the process and its children) and stdout of one command."""
    started = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = process.communicate()
    elapsed = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"failed: {' '.join(args[:3])}...: {err.strip()[-400:]}")
    rss = 0
    for line in err.splitlines():
        if line.startswith("MAXRSS "):
            rss = int(line.split()[1])
    return elapsed, rss, out


# Runs in the measured child: time only the engine, report its own peak memory and its children's.
_ENGINE_CHILD = """
import json, resource, sys, time
from pathlib import Path
from engine.pipeline import add_music
started = time.perf_counter()
summary = add_music(Path(sys.argv[1]), Path(sys.argv[2]))
elapsed = time.perf_counter() - started
peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
# Untimed: the beat grid the engine chose, checked against the cuts we know are in the clip.
import tempfile
from engine.analyse import analyse
from engine.choose import choose_music
from engine.compose import compose
analysis = analyse(Path(sys.argv[1]))
plan = choose_music(analysis)
with tempfile.TemporaryDirectory() as tmp:
    beats = compose(plan, analysis.cuts, analysis.info.duration, Path(tmp) / "m.mid").beat_times
known = json.loads(sys.argv[3])
known_on_beat = sum(1 for cut in known if any(abs(cut - beat) <= 0.1 for beat in beats))
detected = sum(1 for cut in known if any(abs(cut - found.time) <= 0.1 for found in analysis.cuts))
print(json.dumps({"seconds": elapsed, "summary": summary.to_dict(), "known_on_beat": known_on_beat,
                  "known_detected": detected, "known_total": len(known)}))
print("MAXRSS", peak, file=sys.stderr)
"""

_FLOOR_CHILD = """
import resource, subprocess, sys, time
started = time.perf_counter()
subprocess.run(sys.argv[1:], check=True)
print(time.perf_counter() - started)
print("MAXRSS", resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)
"""


def measure(seconds: float, repeat: int, work: Path) -> dict:
    clip = work / f"clip_{int(seconds)}.mp4"
    wav = work / f"music_{int(seconds)}.wav"
    cuts = make_clip(clip, seconds)
    write_wav(wav, seconds)
    floor_cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", str(clip), "-i", str(wav),
                 "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "aac", "-b:a", "192k",
                 "-movflags", "+faststart", str(work / "floor.mp4")]
    floor_times, floor_rss, engine_times, engine_rss, summary, loads = [], [], [], [], {}, []
    for _ in range(repeat):  # interleaved, so drift in machine load hits both alike
        loads.append(os.getloadavg()[0])  # the engine uses both cores: a busy machine hurts it more
        _, rss, out = run_measured([sys.executable, "-c", _FLOOR_CHILD, *floor_cmd])
        floor_times.append(float(out.strip()))
        floor_rss.append(rss)
        _, rss, out = run_measured([sys.executable, "-c", _ENGINE_CHILD, str(clip), str(work / "engine.mp4"),
                                    json.dumps(cuts)])
        report = json.loads(out)
        engine_times.append(report["seconds"])
        engine_rss.append(rss)
        summary = report["summary"]
        known = report
    floor_t, engine_t = statistics.median(floor_times), statistics.median(engine_times)
    return {
        "seconds": seconds,
        "floor_s": floor_t,
        "engine_s": engine_t,
        "time_ratio": engine_t / floor_t,
        "floor_rss_mib": max(floor_rss) / 1024,
        "engine_rss_mib": max(engine_rss) / 1024,
        "rss_ratio": max(engine_rss) / max(floor_rss),
        "cuts_total": summary.get("cuts_total", 0),  # cuts the engine found
        "cuts_on_beat": summary.get("cuts_on_beat", 0),
        "known_total": known["known_total"],  # cuts we put in the clip
        "known_detected": known["known_detected"],
        "known_on_beat": known["known_on_beat"],
        "video_copied": summary.get("video_copied"),
        "lufs": summary.get("loudness_lufs"),
        "load_min": min(loads),
        "load_max": max(loads),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", type=float, nargs="+", default=[15, 60, 180])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    os.chdir(ROOT)
    rows = []
    with tempfile.TemporaryDirectory(prefix="aiwm-bench-") as tmp:
        for seconds in args.lengths:
            rows.append(measure(seconds, args.repeat, Path(tmp)))
            row = rows[-1]
            print(f"{row['seconds']:>5.0f}s  floor {row['floor_s']:6.2f}s  engine {row['engine_s']:6.2f}s  "
                  f"x{row['time_ratio']:.2f}  | mem floor {row['floor_rss_mib']:5.0f} MiB  engine "
                  f"{row['engine_rss_mib']:5.0f} MiB  x{row['rss_ratio']:.2f}  | known cuts found "
                  f"{row['known_detected']}/{row['known_total']}, on a beat {row['known_on_beat']}/{row['known_total']}"
                  f" (found cuts on a beat {row['cuts_on_beat']}/{row['cuts_total']})  copied={row['video_copied']}"
                  f"  | load {row['load_min']:.1f}-{row['load_max']:.1f} on {os.cpu_count()} cores",
                  flush=True)
    on_beat = sum(r["known_on_beat"] for r in rows)
    total = sum(r["known_total"] for r in rows)
    if total:
        print(f"known scene cuts within 100 ms of a beat: {on_beat}/{total} = {on_beat / total:.0%}")
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "engine.json").write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
