"""Many chats, one bot process: delay from a backend event to the chat, memory and CPU under load.

Scenario: N private chats each send one message at once; each starts a turn that the local
backend holds open (fault `turn_delay`) while it writes a visible event every second (fault
`progress_ticks`: a function call carrying the wall-clock time it was written). The bot turns
each one into a progress update on the chat's reply port. For every update the port receives we
take `now - sent_at`: backend write -> SSE -> NemoClient -> Core -> ProgressDisplay -> port.

Two runs, the same updates, each in a fresh bot process and a fresh backend process:
- concurrent: what the bot does (Core.handle hands each chat to its own lane and returns);
- one-at-a-time: each update is awaited to the end of its work before the next is taken (what a
  platform library's sequential update handling would do if the handler awaited the work).
  Its first turn stays open for the whole window, so it shows how one turn blocks every chat.

What is real and what is not: the real Core, NemoClient and local backend (its own process, so
its CPU and memory are not counted as the bot's), real HTTP/SSE on loopback, real SQLite. The
chat surface is an in-memory reply port (not Telegram through the fake Bot API: at 1,000 chats
the fake API in the same process would dominate the bot's CPU and its edits carry no timestamp).
The event's send time reaches the port through a tap on the client's turn stream, keyed by the
asyncio task that runs the chat's turn (the same task calls the port right after).

    .venv/bin/python bench/load.py [--chats 1000] [--seconds 30]    # smoke: --chats 50 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "results" / "load.json"
MESSAGE = "add lo-fi background music"
HOLD_EXTRA = 60.0  # the backend keeps each turn open this long past the window
SCENARIOS = ("concurrent", "one-at-a-time")

_BACKEND_CHILD = """
import asyncio, resource, sys
from pathlib import Path
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
from backend.config import BackendConfig
from backend.server import LocalBackend
async def main():
    cfg = BackendConfig(data_dir=Path(sys.argv[1]), test_mode=True)
    async with LocalBackend(cfg) as b:
        print(b.url, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
asyncio.run(main())
"""


# --- the bot process (worker) ---------------------------------------------------------------

@dataclass
class ChatStats:
    ticks: int = 0
    first_tick: float | None = None  # seconds after the window opened
    texts: list[str] = field(default_factory=list)


class Recorder:
    """Shared by the tapped client and the ports: pending send times per turn task, and results."""

    def __init__(self) -> None:
        self.pending: dict[asyncio.Task, float] = {}
        self.delays: list[float] = []
        self.arrivals: list[float] = []  # seconds after the window opened, one per delay
        self.tapped = 0
        self.chats: dict[str, ChatStats] = {}
        self.window_start = 0.0
        self.window_end = float("inf")

    def tap(self, sent_at: float) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.tapped += 1
            self.pending[task] = sent_at

    def arrived(self, chat_id: str) -> None:
        task = asyncio.current_task()
        sent_at = self.pending.pop(task, None) if task is not None else None
        now = time.time()
        if sent_at is None or not (self.window_start <= now <= self.window_end):
            return
        self.delays.append(now - sent_at)
        self.arrivals.append(now - self.window_start)
        stats = self.chats[chat_id]
        stats.ticks += 1
        if stats.first_tick is None:
            stats.first_tick = now - self.window_start


class TimingPort:
    """An in-memory reply port that timestamps every progress call it receives."""

    def __init__(self, chat_id: str, recorder: Recorder) -> None:
        from core.ports import SurfaceLimits

        self.chat_id = chat_id
        self.recorder = recorder
        self._limits = SurfaceLimits(max_upload_bytes=50 * 1000 * 1000)
        recorder.chats[chat_id] = ChatStats()

    def limits(self):
        return self._limits

    def delivery_target(self) -> dict:
        return {"chat": self.chat_id}

    async def send_text(self, text: str) -> None:
        self.recorder.chats[self.chat_id].texts.append(text)

    async def send_video(self, video) -> None:
        pass

    async def progress_start(self, progress) -> None:
        self.recorder.arrived(self.chat_id)

    async def progress_update(self, progress) -> None:
        self.recorder.arrived(self.chat_id)

    async def progress_finish(self, final_text: str | None = None) -> None:
        if final_text:
            self.recorder.chats[self.chat_id].texts.append(final_text)


class BenchSurface:
    name = "bench"

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.ports: dict[str, TimingPort] = {}

    def reply_port_for(self, chat_id: str, delivery: dict | None = None) -> TimingPort:
        if chat_id not in self.ports:
            self.ports[chat_id] = TimingPort(chat_id, self.recorder)
        return self.ports[chat_id]


def _tapped_client_class():
    from core.nemo.client import NemoClient
    from core.nemo.events import ToolCall

    class TappedClient(NemoClient):
        """The real client; its turn stream also notes each tick's send time for the port."""

        recorder: Recorder

        async def run_turn(self, session_id, text, **kw):
            async for event in super().run_turn(session_id, text, **kw):
                if isinstance(event, ToolCall) and isinstance(event.args.get("sent_at"), (int, float)):
                    self.recorder.tap(float(event.args["sent_at"]))
                yield event

    return TappedClient


def _status_mb(field_name: str, pid: int | str = "self") -> float:
    """A memory figure from /proc (VmRSS now, VmHWM the peak so far) in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


class GcPauses:
    """Times the interpreter's garbage collections: a long one stalls every chat at once."""

    def __init__(self) -> None:
        self.longest = 0.0
        self.total = 0.0
        self.full = 0
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        pause = time.perf_counter() - self._started
        self.total += pause
        self.longest = max(self.longest, pause)
        self.full += info.get("generation") == 2


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run_worker(scenario: str, url: str, chats: int, seconds: float, work: Path,
                     max_connections: int = 0) -> dict:
    from core.app import Core, CoreConfig
    from core.events import InboundEvent
    from core.store import Store

    recorder = Recorder()
    surface = BenchSurface(recorder)
    store = await Store(work / "bot.sqlite3").open()
    client = _tapped_client_class()(url, credentials=store, platform="bench", max_connections=max_connections)
    client.recorder = recorder
    core = Core(CoreConfig(data_dir=work / "bot"), client, store, {"bench": surface})
    await core.start()
    events = [InboundEvent(surface="bench", chat_id=f"c{i}", user_id=f"u{i}", reply=surface.reply_port_for(f"c{i}"),
                           text=MESSAGE, language="en", message_id="1") for i in range(chats)]
    rss_idle = _status_mb("VmRSS")
    load_start = os.getloadavg()[0]
    pauses = GcPauses()  # other work on the machine shows up as delay here
    cpu_start = _cpu_seconds()
    recorder.window_start = time.time()
    recorder.window_end = recorder.window_start + seconds
    handed = 0

    async def feed() -> None:
        nonlocal handed
        for event in events:
            await core.handle(event)
            handed += 1
            if scenario == "one-at-a-time":
                while core.lanes.busy(event.chat_key):  # await the whole handling of this update
                    await asyncio.sleep(0.01)

    feeder = asyncio.create_task(feed())
    await asyncio.sleep(max(0.0, recorder.window_end - time.time()))
    wall = time.time() - recorder.window_start
    cpu = _cpu_seconds() - cpu_start
    feeder.cancel()
    await asyncio.gather(feeder, return_exceptions=True)
    await core.stop()
    await client.close()
    await store.close()

    delays = sorted(recorder.delays)
    progressing = [s for s in recorder.chats.values() if s.ticks]
    # Steady state: after every chat got its first event (the ramp creates 1,000 sessions first).
    ramp_end = max((s.first_tick for s in progressing), default=None) if len(progressing) == chats else None
    steady = sorted(d for d, at in zip(recorder.delays, recorder.arrivals) if ramp_end is not None and at > ramp_end)
    buckets = {}
    for d, at in zip(recorder.delays, recorder.arrivals):
        buckets.setdefault(int(at // 5) * 5, []).append(d)
    errors = sum(1 for s in recorder.chats.values() for t in s.texts if "error" in t.lower() or "sorry" in t.lower())
    return {
        "scenario": scenario,
        "chats": chats,
        "updates_handed_over": handed,
        "window_s": round(wall, 2),
        "chats_progressing": len(progressing),
        "all_progressing_after_s": (round(max(s.first_tick for s in progressing), 2)
                                    if len(progressing) == chats else None),
        "events_received": len(delays),
        "events_tapped": recorder.tapped,
        "events_per_chat_mean": round(len(delays) / chats, 2),
        "p50_ms": _ms(_pct(delays, 50)),
        "p95_ms": _ms(_pct(delays, 95)),
        "p99_ms": _ms(_pct(delays, 99)),
        "max_ms": _ms(delays[-1] if delays else None),
        "steady_p50_ms": _ms(_pct(steady, 50)),
        "steady_p99_ms": _ms(_pct(steady, 99)),
        "p99_ms_per_5s": {f"{k}-{k + 5}s": _ms(_pct(sorted(v), 99)) for k, v in sorted(buckets.items())},
        "load_avg_at_start": round(load_start, 2),
        "gc_longest_pause_ms": _ms(pauses.longest),
        "gc_total_ms": _ms(pauses.total),
        "gc_full_collections": pauses.full,
        "rss_idle_mb": round(rss_idle, 1),
        "peak_rss_mb": round(_status_mb("VmHWM"), 1),
        "cpu_s": round(cpu, 2),
        "cpu_pct": round(100 * cpu / wall, 1),
        "error_texts": errors,
    }


def _pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


# --- the orchestrator ------------------------------------------------------------------------

def _proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _set_faults(url: str, faults: dict) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/_test/faults", json={"faults": faults}) as resp:
            resp.raise_for_status()


def run_scenario(scenario: str, chats: int, seconds: float, max_connections: int = 0,
                 gc_default: bool = False) -> dict:
    with tempfile.TemporaryDirectory(prefix="aiwm-load-") as tmp:
        work = Path(tmp)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        backend = subprocess.Popen([sys.executable, "-c", _BACKEND_CHILD, str(work / "backend")], cwd=ROOT,
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                   text=True, env=env)
        try:
            url = backend.stdout.readline().strip()
            asyncio.run(_set_faults(url, {"turn_delay": seconds + HOLD_EXTRA, "progress_ticks": 1.0}))
            backend_cpu_start = _proc_cpu(backend.pid)
            out = work / "worker.json"
            log_path = work / "worker.log"
            with log_path.open("w") as log_file:
                worker = subprocess.run(
                    [sys.executable, str(Path(__file__).resolve()), "--worker", scenario, "--url", url,
                     "--chats", str(chats), "--seconds", str(seconds), "--out", str(out), "--work", str(work / "bot"),
                     "--max-connections", str(max_connections)] + (["--gc-default"] if gc_default else []),
                    cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT, timeout=seconds + 600)
            if worker.returncode != 0:
                raise SystemExit(f"{scenario} worker failed:\n{log_path.read_text()[-3000:]}")
            result = json.loads(out.read_text())
            result["backend_cpu_s"] = round(_proc_cpu(backend.pid) - backend_cpu_start, 2)
            result["backend_peak_rss_mb"] = round(_status_mb("VmHWM", backend.pid), 1)
            warnings = [line for line in log_path.read_text().splitlines() if "WARNING" in line or "ERROR" in line]
            result["bot_log_warnings"] = len(warnings)
            result["bot_log_sample"] = warnings[:3]
            return result
        finally:
            backend.stdin.close()
            try:
                backend.wait(timeout=30)
            except subprocess.TimeoutExpired:
                backend.kill()


ROWS = [
    ("chats progressing", "chats_progressing", "{:.0f}"),
    ("all progressing after s", "all_progressing_after_s", "{:.2f}"),
    ("events received", "events_received", "{:.0f}"),
    ("p50 delay ms", "p50_ms", "{:.1f}"),
    ("p95 delay ms", "p95_ms", "{:.1f}"),
    ("p99 delay ms", "p99_ms", "{:.1f}"),
    ("max delay ms", "max_ms", "{:.1f}"),
    ("steady p50 ms", "steady_p50_ms", "{:.1f}"),
    ("steady p99 ms", "steady_p99_ms", "{:.1f}"),
    ("load avg at start", "load_avg_at_start", "{:.2f}"),
    ("longest GC pause ms", "gc_longest_pause_ms", "{:.1f}"),
    ("bot RSS idle MB", "rss_idle_mb", "{:.1f}"),
    ("bot peak RSS MB", "peak_rss_mb", "{:.1f}"),
    ("bot CPU s (user+sys)", "cpu_s", "{:.2f}"),
    ("bot CPU %", "cpu_pct", "{:.1f}"),
    ("backend CPU s", "backend_cpu_s", "{:.2f}"),
    ("backend peak RSS MB", "backend_peak_rss_mb", "{:.1f}"),
]


def _fmt(fmt: str, value) -> str:
    return "-" if value is None else fmt.format(value)


def table(result: dict) -> str:
    conc, seq = result["concurrent"], result["one-at-a-time"]
    cap = result.get("max_connections") or "none"
    lines = [f"{result['chats']} chats, {result['seconds']:.0f} s window, a backend event every second per open turn"
             f" (client connection cap: {cap}, GC {result.get('gc', 'tuned')})",
             f"  {'':26}{'concurrent':>12}{'one-at-a-time':>15}{'ratio':>9}"]
    for label, key, fmt in ROWS:
        ratio = result["ratio"].get(key)
        lines.append(f"  {label:26}{_fmt(fmt, conc.get(key)):>12}{_fmt(fmt, seq.get(key)):>15}"
                     f"{_fmt('{:.2f}', ratio):>9}")
    goals = result["goals"]
    lines.append(f"  goals: all progress {'yes' if goals['all_progress'] else 'NO'}, "
                 f"p99 < 100 ms {'yes' if goals['p99_under_100ms'] else 'NO'}, "
                 f"RSS < 300 MB {'yes' if goals['rss_under_300mb'] else 'NO'}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chats", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON result")
    parser.add_argument("--max-connections", type=int, default=0,
                        help="the Nemo client's connection cap (0 = none, the product default; "
                             "100 = aiohttp's default, what the bot had before)")
    parser.add_argument("--gc-default", action="store_true",
                        help="leave Python's GC settings alone (what the bot did before)")
    parser.add_argument("--worker", choices=SCENARIOS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        # Set up the process as `aiwm run` does: the open-file limit, and (after the imports) GC.
        from bots.limits import calm_garbage_collector, raise_open_file_limit
        import core.app, core.store, core.nemo.client  # noqa: E401,F401  what the bot imports

        raise_open_file_limit()
        if not args.gc_default:
            calm_garbage_collector()
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
        args.work.mkdir(parents=True, exist_ok=True)
        result = asyncio.run(run_worker(args.worker, args.url, args.chats, args.seconds, args.work,
                                        args.max_connections))
        args.out.write_text(json.dumps(result))
        return 0

    from bots.limits import raise_open_file_limit

    raise_open_file_limit()
    result: dict = {"chats": args.chats, "seconds": args.seconds, "cpus": os.cpu_count(),
                    "max_connections": args.max_connections, "gc": "default" if args.gc_default else "tuned",
                    "when": time.strftime("%Y-%m-%dT%H:%M:%S")}
    for scenario in SCENARIOS:
        print(f"running {scenario} ({args.chats} chats, {args.seconds:.0f} s)...", file=sys.stderr, flush=True)
        result[scenario] = run_scenario(scenario, args.chats, args.seconds, args.max_connections, args.gc_default)
    conc, seq = result["concurrent"], result["one-at-a-time"]
    result["ratio"] = {key: round(conc[key] / seq[key], 2)
                       for _, key, _ in ROWS if key != "load_avg_at_start"
                       and isinstance(conc.get(key), (int, float)) and seq.get(key)}
    result["goals"] = {
        "all_progress": conc["chats_progressing"] == args.chats,
        "p99_under_100ms": conc["p99_ms"] is not None and conc["p99_ms"] < 100,
        "rss_under_300mb": conc["peak_rss_mb"] < 300,
    }
    print(table(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
