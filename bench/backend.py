"""Local backend throughput and memory against plain baselines, measured in the same run.

1. SSE: chat turns per second and ADK events per second through /run_sse (partial streaming on,
   so each turn carries many frames), against a bare aiohttp handler that writes the same frames.
2. Upload relay: a 500 MB file (a WAV written to a temp dir) posted as multipart `files` to the
   backend, against a plain loopback copy (an aiohttp handler that streams the body to disk).
   Each server runs in its own process; its peak RSS (VmHWM) growth during the upload is reported.

    .venv/bin/python bench/backend.py [--upload-mb 500] [--turns 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
import wave
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

_BACKEND_CHILD = """
import asyncio, sys
from pathlib import Path
from backend.config import BackendConfig
from backend.server import LocalBackend
async def main():
    cfg = BackendConfig(data_dir=Path(sys.argv[1]), test_mode=True, upload_max_bytes=8 * 1024**3)
    async with LocalBackend(cfg) as b:
        print(b.url, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
asyncio.run(main())
"""

_COPY_CHILD = """
import asyncio, sys
from aiohttp import web
async def copy(request):
    with open(sys.argv[1] + "/copy.bin", "wb") as f:
        async for chunk in request.content.iter_chunked(1024 * 1024):
            f.write(chunk)
    return web.json_response({"ok": True})
async def sse(request):
    n = int(request.query["n"])
    frame = request.query["frame"].encode()
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    for _ in range(n):
        await resp.write(frame)
    await resp.write_eof()
    return resp
async def main():
    app = web.Application(client_max_size=0)
    app.router.add_post("/copy", copy)
    app.router.add_post("/sse", sse)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(f"http://127.0.0.1:{runner.addresses[0][1]}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
asyncio.run(main())
"""


class Server:
    """A server in a child process, so its memory is its own."""

    def __init__(self, code: str, work: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", code, str(work)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, cwd=ROOT, text=True)
        self.url = self.proc.stdout.readline().strip()

    def memory_kb(self, field: str) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        return 0

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def write_wav(path: Path, megabytes: int, rate: int = 48000) -> int:
    block = b"\0" * (4 * rate)  # one second of silent 16-bit stereo
    seconds = megabytes * 1024 * 1024 // len(block)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        for _ in range(seconds):
            w.writeframes(block)
    return path.stat().st_size


async def upload_to(http: aiohttp.ClientSession, url: str, path: Path, headers: dict, multipart: bool) -> float:
    started = time.perf_counter()
    with open(path, "rb") as fh:
        if multipart:
            form = aiohttp.FormData()
            form.add_field("files", fh, filename=path.name)
            data = form
        else:
            data = fh
        async with http.post(url, data=data, headers=headers) as resp:
            body = await resp.json()
            assert resp.status == 200 and body.get("code", 0) == 0, body
    return time.perf_counter() - started


async def login(http: aiohttp.ClientSession, url: str) -> dict:
    async with http.post(url + "/api/auth/anonymous-token", headers={"X-Client-Id": str(uuid.uuid4())}) as resp:
        token = (await resp.json())["data"]["token"]
    headers = {"Authorization": f"Bearer {token}", "X-Skill-Source": "bench", "X-Skill-Version": "1",
               "X-Skill-Platform": "bench"}
    async with http.post(url + "/api/tasks/me/with-session/nemo_agent", json={"task_name": "bench"},
                         headers=headers) as resp:
        sid = (await resp.json())["data"]["session_id"]
    return {"headers": headers, "sid": sid}


async def bench_sse(http, backend: Server, copy: Server, turns: int) -> dict:
    ctx = await login(http, backend.url)
    sid, headers = ctx["sid"], ctx["headers"]
    async with http.post(backend.url + "/_test/faults", json={"session_id": sid, "faults": {"partial": True}}):
        pass
    body = {"app_name": "nemo_agent", "user_id": "me", "session_id": sid,
            "new_message": {"parts": [{"text": "what can you do for me today?"}]}}
    frames, sample = 0, ""
    started = time.perf_counter()
    for _ in range(turns):
        async with http.post(backend.url + "/run_sse", json=body, headers=headers) as resp:
            raw = await resp.text()
        blocks = [b for b in raw.split("\n\n") if b.startswith("data: {")]
        frames += len(blocks)
        sample = blocks[-1] + "\n\n"
    ours = time.perf_counter() - started
    per_turn = frames // turns
    started = time.perf_counter()
    for _ in range(turns):
        async with http.post(copy.url + "/sse", params={"n": str(per_turn), "frame": sample}) as resp:
            await resp.read()
    base = time.perf_counter() - started
    return {"turns": turns, "events_per_turn": per_turn, "backend_events_s": frames / ours,
            "backend_turns_s": turns / ours, "baseline_events_s": per_turn * turns / base}


async def bench_upload(http, backend: Server, copy: Server, path: Path) -> dict:
    ctx = await login(http, backend.url)
    rows = {}
    for name, server, url, multipart, headers in (
            ("plain copy", copy, copy.url + "/copy", False, {}),
            ("backend", backend, f"{backend.url}/api/upload-video/nemo_agent/me/{ctx['sid']}", True, ctx["headers"])):
        before = server.memory_kb("VmHWM")
        seconds = await upload_to(http, url, path, headers, multipart)
        rows[name] = {"seconds": seconds, "hwm_delta_mb": (server.memory_kb("VmHWM") - before) / 1024,
                      "rss_mb": server.memory_kb("VmRSS") / 1024}
    return rows


async def main_async(args) -> dict:
    with tempfile.TemporaryDirectory(prefix="aiwm-bench-") as tmp:
        work = Path(tmp)
        (work / "backend").mkdir()
        (work / "copy").mkdir()
        path = work / "upload.wav"
        size = write_wav(path, args.upload_mb)
        backend, copy = Server(_BACKEND_CHILD, work / "backend"), Server(_COPY_CHILD, work / "copy")
        try:
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)
            async with aiohttp.ClientSession(timeout=timeout) as http:
                sse = await bench_sse(http, backend, copy, args.turns)
                upload = await bench_upload(http, backend, copy, path)
        finally:
            backend.close()
            copy.close()
    return {"sse": sse, "upload": upload, "size_mb": size / 1024 / 1024}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upload-mb", type=int, default=500)
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(main_async(args))
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    sse, up = result["sse"], result["upload"]
    print(f"SSE /run_sse: {sse['turns']} turns, {sse['events_per_turn']} ADK events per turn")
    print(f"  backend   {sse['backend_events_s']:9.0f} events/s  ({sse['backend_turns_s']:.0f} turns/s)")
    print(f"  baseline  {sse['baseline_events_s']:9.0f} events/s  (bare aiohttp writing the same frames)")
    print(f"  ratio     {sse['backend_events_s'] / sse['baseline_events_s']:9.2f}  (backend / baseline)")
    print(f"\nUpload relay of {result['size_mb']:.0f} MB over loopback")
    print(f"  {'':12}{'seconds':>9}{'MB/s':>9}{'peak RSS growth MB':>20}{'RSS after MB':>14}")
    for name, row in up.items():
        print(f"  {name:12}{row['seconds']:9.2f}{result['size_mb'] / row['seconds']:9.0f}"
              f"{row['hwm_delta_mb']:20.1f}{row['rss_mb']:14.1f}")
    b, c = up["backend"], up["plain copy"]
    print(f"  ratio (backend / plain copy): time {b['seconds'] / c['seconds']:.2f}, "
          f"peak RSS growth {b['hwm_delta_mb'] - c['hwm_delta_mb']:+.1f} MB "
          f"({b['hwm_delta_mb'] / max(c['hwm_delta_mb'], 0.1):.1f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
