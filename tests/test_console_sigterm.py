"""SIGTERM to `aiwm chat` (a real process, its input pipe still open): it stops reading, lets the
running clip finish within AIWM_STOP_GRACE, and exits 0; a render the grace cut off is kept and
saved by the next start. The backend is a real LocalBackend in the test process, so it outlives
the chat and its request log shows when the render is under way."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from backend.config import BackendConfig
from backend.server import LocalBackend
from tests.clips import make_clip
from tests.media_checks import ffprobe, stream

ROOT = Path(__file__).resolve().parent.parent
WAIT = 120.0  # liveness bound for one step on two busy cores, not a speed check


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("console-sigterm") / "beach day.mp4", duration=1.0, size=(160, 120))


@pytest.fixture
async def backend(tmp_path: Path):
    server = LocalBackend(BackendConfig(data_dir=tmp_path / "backend", test_mode=True, heartbeat_interval=0.2))
    await server.start()
    yield server
    await server.stop()


class Chat:
    """`python -m bots.cli chat` with a pipe for stdin that the test keeps open."""

    def __init__(self, tmp: Path, backend_url: str) -> None:
        self.tmp = tmp
        self.backend_url = backend_url
        self.out_dir = tmp / "out"
        self.runs = 0

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIWM_", "NEMO_", "TELEGRAM_", "DISCORD_"))}
        env.update({"PYTHONPATH": str(ROOT), "LANG": "C.UTF-8", "NEMO_API_URL": self.backend_url,
                    "AIWM_DATA_DIR": str(self.tmp / "data"), "AIWM_RENDER_POLL_INTERVAL": "0.2", **extra})
        return env

    async def start(self, **env: str) -> asyncio.subprocess.Process:
        self.runs += 1
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bots.cli", "chat", "--out", str(self.out_dir), cwd=self.tmp, env=self.env(**env),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)

    async def requests(self, method: str, path: str) -> list[dict]:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{self.backend_url}/_test/requests") as response:
                log = (await response.json())["requests"]
        return [r for r in log if r["method"] == method and r["path"].startswith(path)]

    async def render_started(self, proc: asyncio.subprocess.Process) -> None:
        async def seen() -> None:
            while not await self.requests("POST", "/api/render/proxy/lambda"):
                assert proc.returncode is None, "the chat exited before rendering"
                await asyncio.sleep(0.05)
        await asyncio.wait_for(seen(), WAIT)

    async def set_faults(self, faults: dict) -> None:
        async with aiohttp.ClientSession() as http:
            method = http.post if faults else http.delete
            kwargs = {"json": {"faults": faults}} if faults else {}
            async with method(f"{self.backend_url}/_test/faults", **kwargs) as response:
                assert response.status == 200, await response.text()


async def finished(proc: asyncio.subprocess.Process) -> tuple[int, str, str]:
    out, err = await asyncio.wait_for(proc.communicate(), WAIT)
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def saved(stdout: str) -> list[Path]:
    return [Path(line) for line in stdout.splitlines() if line.endswith(".mp4") and Path(line).is_file()]


async def test_sigterm_lets_the_running_clip_finish_then_exits_0(tmp_path, backend, clip):
    chat = Chat(tmp_path, backend.url)
    await chat.set_faults({"render_delay": 1})  # the render is surely running when the signal comes
    proc = await chat.start(AIWM_STOP_GRACE="90")
    proc.stdin.write(f"{clip} calm piano\n".encode())
    await proc.stdin.drain()
    await chat.render_started(proc)

    proc.send_signal(signal.SIGTERM)  # the input pipe stays open: only the signal ends the chat
    code, out, err = await finished(proc)
    assert code == 0, err[-2000:]
    [video] = saved(out)
    info = ffprobe(video)
    assert stream(info, "video") and stream(info, "audio")  # the clip came back, with music
    assert "Stopping: no more input" in err


async def test_work_the_grace_cuts_off_is_saved_by_the_next_start(tmp_path, backend, clip):
    chat = Chat(tmp_path, backend.url)
    await chat.set_faults({"render_delay": 6})  # outlasts the grace
    proc = await chat.start(AIWM_STOP_GRACE="0.5")
    proc.stdin.write(f"{clip}\n".encode())
    await proc.stdin.drain()
    await chat.render_started(proc)

    proc.send_signal(signal.SIGTERM)
    code, out, err = await finished(proc)
    assert code == 0, err[-2000:]
    assert saved(out) == []  # still rendering at the backend when the chat stopped
    assert "kept and resumes at the next start" in err
    await chat.set_faults({})

    # The next start (nothing typed this time) picks the render up and saves it.
    proc = await chat.start()
    proc.stdin.close()
    code, out, err = await finished(proc)
    assert code == 0, err[-2000:]
    [video] = saved(out)
    assert stream(ffprobe(video), "video")
    assert len(await chat.requests("POST", "/run_sse")) == 1  # the turn was not run (charged) again
    assert len(await chat.requests("POST", "/api/render/proxy/lambda")) == 1  # resumed, not rendered again
