"""The local backend as a real child process (`python -m bots.cli backend --test-mode`), so a test
can SIGKILL it mid-work and start it again on the same port with the same data folder.

What the killed backend had been asked survives in its `--request-log` file (JSON lines, appended
per request); what it had stored survives in its SQLite file, which tests may read directly.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import sys
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parents[2]
START_WAIT = 60.0  # liveness bound for a Python start on two busy cores, not a speed check


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class BackendProcess:
    """`aiwm backend` on one fixed port and data folder; started, SIGKILLed and started again."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data_dir = root / "data"
        self.request_file = root / "requests.jsonl"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: asyncio.subprocess.Process | None = None
        self.starts = 0
        root.mkdir(parents=True, exist_ok=True)

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIWM_", "NEMO_", "TELEGRAM_", "DISCORD_"))}
        env.update({"PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1", "AIWM_LOG_LEVEL": "INFO"})
        return env

    @property
    def log_path(self) -> Path:
        return self.root / f"backend-{self.starts}.log"

    async def start(self) -> None:
        self.starts += 1
        with open(self.log_path, "wb") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bots.cli", "backend", "--test-mode", "--port", str(self.port),
                "--data-dir", str(self.data_dir), "--request-log", str(self.request_file),
                cwd=self.root, env=self._env(), stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log)
        try:
            await asyncio.wait_for(self._until_healthy(), START_WAIT)
        except TimeoutError:
            raise AssertionError(f"the backend did not start:\n{self.log_tail()}") from None

    async def _until_healthy(self) -> None:
        async with aiohttp.ClientSession() as http:
            while True:
                if self.proc.returncode is not None:
                    raise AssertionError(f"the backend exited at start:\n{self.log_tail()}")
                try:
                    async with http.get(f"{self.url}/health") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)

    async def kill(self) -> None:
        """SIGKILL: no cleanup runs, open connections are cut, nothing in memory survives."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
            await self.proc.wait()
        self.proc = None

    async def stop(self) -> None:
        """SIGTERM (the clean stop), falling back to SIGKILL."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 15)
            except TimeoutError:
                await self.kill()
        self.proc = None

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    # --- what it was asked and what it keeps -------------------------------------------------

    def requests(self) -> list[dict]:
        """Every request any run of this backend logged, killed runs included."""
        if not self.request_file.exists():
            return []
        return [json.loads(line) for line in self.request_file.read_text().splitlines() if line.strip()]

    def count(self, method: str, path: str) -> int:
        return sum(1 for r in self.requests() if r["method"] == method and r["path"] == path)

    def turns(self) -> int:
        """POST /run_sse: each one is a chat message sent (and charged) once more."""
        return self.count("POST", "/run_sse")

    def record(self, kind: str, key: str) -> dict | None:
        """One record from the backend's SQLite store (what a restart will reload)."""
        db = sqlite3.connect(f"file:{self.data_dir / 'backend.sqlite3'}?mode=ro", uri=True)
        try:
            row = db.execute("SELECT data FROM records WHERE kind = ? AND id = ?", (kind, key)).fetchone()
        finally:
            db.close()
        return json.loads(row[0]) if row else None

    async def faults(self, faults: dict, session_id: str | None = None) -> None:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{self.url}/_test/faults",
                                 json={"faults": faults, "session_id": session_id}) as resp:
                assert resp.status == 200, await resp.text()


async def wait_until(condition, what: str, timeout: float = 120.0) -> None:
    """Poll `condition()` every 50 ms (a liveness bound, not a speed check)."""
    async def watch() -> None:
        while not condition():
            await asyncio.sleep(0.05)
    try:
        await asyncio.wait_for(watch(), timeout)
    except TimeoutError:
        raise AssertionError(f"gave up waiting for {what}") from None
