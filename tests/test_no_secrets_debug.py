"""No secret ever reaches the output, with every logger at DEBUG.

The real bot runs as a subprocess (`python -m bots.cli run`, so the real logging setup is in
play) against the fake Telegram Bot API and a real local backend in this process, through a whole
session: a clip, a follow-up, /status, /credits, an export, an expired backend token (renewed)
and an out-of-credits error, then SIGTERM. Its stdout and stderr (every record at every level,
exception texts included) and every chat message it sent are searched for every token it used:
the bot token (also URL-encoded, and its secret half alone), the webhook secret, and each Nemo
token (the anonymous ones the bot was issued, read from both stores afterwards, or the one given
in NEMO_TOKEN). Run once with text logs and polling, once with JSON logs, a webhook and NEMO_TOKEN.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import sys
from pathlib import Path
from urllib.parse import quote

import aiohttp
import pytest

from backend.config import BackendConfig
from backend.server import LocalBackend
from core.i18n import say
from tests.clips import make_clip
from tests.telegram.fake_bot_api import TOKEN, FakeBotApi, message, private_chat, user, video_field

ROOT = Path(__file__).resolve().parent.parent
WAIT = 120.0  # liveness bound for real renders on two cores
WEBHOOK_SECRET = "whsec-Zq8rT4vLm2Pn7Xc1"
CHAT = 4242


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _anonymous_token(backend_url: str) -> str:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{backend_url}/api/auth/anonymous-token",
                             headers={"X-Client-Id": "secrets-test-operator"}) as resp:
            body = await resp.json()
    token = (body.get("data") or body).get("token") or (body.get("data") or {}).get("access_token")
    assert token and token.startswith("nmv_usr_"), body
    return token


def _tokens_in(db_dir: Path, query: str) -> set[str]:
    found: set[str] = set()
    for path in db_dir.rglob("*.sqlite3"):
        with sqlite3.connect(path) as db:
            try:
                found.update(row[0] for row in db.execute(query) if row[0])
            except sqlite3.OperationalError:
                continue  # another store in the folder
    return found


class Session:
    """Drives the bot as a user would, by polling updates or by posting to its webhook."""

    def __init__(self, fake: FakeBotApi, webhook_port: int | None) -> None:
        self.fake, self.webhook_port = fake, webhook_port
        self._update_id = 0

    async def send(self, **content) -> None:
        m = message(private_chat(CHAT), user(CHAT), **content)
        if self.webhook_port is None:
            self.fake.inject(m)
            return
        self._update_id += 1
        m.setdefault("message_id", 500 + self._update_id)
        m.setdefault("date", 1_700_000_000)
        url = f"http://127.0.0.1:{self.webhook_port}/tg/hook"
        for _ in range(100):  # the bot may still be starting its webhook server
            try:
                async with aiohttp.ClientSession() as http:
                    async with http.post(url, json={"update_id": self._update_id, "message": m},
                                         headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}) as resp:
                        assert resp.status == 200
                        return
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.2)
        raise AssertionError("the bot's webhook never came up")

    def answers(self) -> list[str]:
        return [t for t in self.texts() if not t.startswith(("📥", "📤", "🎼", "🎬", "📦", "📐", "📨", "⏳"))]

    def texts(self) -> list[str]:
        return [str(c.params.get("text") or c.params.get("caption") or "") for c in self.fake.calls
                if c.method in ("sendMessage", "editMessageText", "sendVideo")]

    async def said(self, predicate, before: int) -> None:
        await self.fake.wait_for(lambda f: any(predicate(t) for t in self.answers()[before:]), timeout=WAIT)


async def _full_session(s: Session, backend_url: str, renewable: bool) -> None:
    fake = s.fake
    clip = make_clip(fake.work_dir / "holiday.mp4", duration=1.0, size=(64, 48), fps=10)
    await s.send(caption="calm piano", video=video_field(fake.add_file(clip), width=64, height=48, duration=1))
    await fake.wait_for(lambda f: f.of("sendVideo"), timeout=WAIT)
    n = len(s.answers())
    await s.send(text="music at 20%")
    await s.said(lambda t: "20%" in t, n)
    n = len(s.answers())
    await s.send(text="/status")
    await s.said(lambda t: t.startswith(say("status_header", "en")) or "Music" in t, n)
    n = len(s.answers())
    await s.send(text="/credits")
    await s.said(lambda t: "credit" in t.lower(), n)
    await s.send(text="/export")
    await fake.wait_for(lambda f: len(f.of("sendVideo")) == 2, timeout=WAIT)
    async with aiohttp.ClientSession() as http:
        if renewable:
            # The anonymous backend token expires: the bot gets a new one and carries on.
            # (An operator's NEMO_TOKEN can't be renewed; that path is not part of this test.)
            async with http.post(f"{backend_url}/_test/faults", json={"faults": {"expired_token": True}}) as resp:
                assert resp.status == 200
            n = len(s.answers())
            await s.send(text="make it lo-fi")
            await s.said(lambda t: True, n)
        async with http.post(f"{backend_url}/_test/faults", json={"faults": {"no_credits": True}}) as resp:
            assert resp.status == 200
        n = len(s.answers())
        await s.send(text="make it faster")
        await s.said(lambda t: "credits" in t.lower(), n)
        async with http.delete(f"{backend_url}/_test/faults") as resp:
            assert resp.status == 200


async def _run_bot(tmp: Path, fake: FakeBotApi, env_extra: dict[str, str]):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "NEMO_", "DISCORD_", "AIWM_"))}
    env.update({"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": fake.api_url, "TELEGRAM_FILE_URL": fake.file_url,
                "AIWM_LOG_LEVEL": "DEBUG", "AIWM_DATA_DIR": str(tmp / "data"), "PYTHONUNBUFFERED": "1",
                "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET, **env_extra})
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bots.cli", "run", cwd=str(ROOT), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


@pytest.mark.parametrize("log_format, webhook, operator_token", [
    ("text", False, False),
    ("json", True, True),
], ids=["text-polling-anonymous", "json-webhook-NEMO_TOKEN"])
async def test_a_full_debug_session_never_prints_a_secret(tmp_path, log_format, webhook, operator_token):
    fake = FakeBotApi(tmp_path / "fake")
    await fake.start()
    backend = LocalBackend(BackendConfig(data_dir=tmp_path / "backend", test_mode=True, heartbeat_interval=0.2))
    await backend.start()
    env = {"NEMO_API_URL": backend.url, "AIWM_LOG_FORMAT": log_format}
    nemo_token = None
    if operator_token:
        nemo_token = await _anonymous_token(backend.url)  # a real nmv_usr_ token the backend accepts
        env["NEMO_TOKEN"] = nemo_token
    port = None
    if webhook:
        port = _free_port()
        env.update({"TELEGRAM_WEBHOOK_URL": "https://bot.example.com/tg/hook",
                    "TELEGRAM_WEBHOOK_LISTEN": "127.0.0.1", "TELEGRAM_WEBHOOK_PORT": str(port)})
    bot = await _run_bot(tmp_path, fake, env)
    out_task = asyncio.create_task(bot.stdout.read())
    err_task = asyncio.create_task(bot.stderr.read())
    try:
        await _full_session(Session(fake, port), backend.url, renewable=not operator_token)
        bot.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(bot.wait(), WAIT)
    finally:
        if bot.returncode is None:
            bot.kill()
            await bot.wait()
        await backend.stop()
        await fake.stop()
        stdout = (await out_task).decode("utf-8", "replace")
        stderr = (await err_task).decode("utf-8", "replace")
        (tmp_path / "bot.stderr").write_text(stderr)  # kept with the test's files, for a post-mortem
    assert code == 0, stderr[-3000:]

    secrets = {TOKEN, quote(TOKEN, safe=""), TOKEN.split(":", 1)[1], WEBHOOK_SECRET}
    nemo_tokens = _tokens_in(tmp_path / "data", "SELECT value FROM credentials")
    nemo_tokens |= _tokens_in(tmp_path / "backend", "SELECT id FROM records WHERE kind = 'tokens'")
    nemo_tokens = {t for t in nemo_tokens if t.startswith("nmv_usr_")}
    if nemo_token:
        nemo_tokens.add(nemo_token)
    assert nemo_tokens, "the bot never held a Nemo token: nothing was tested"
    secrets |= nemo_tokens
    # The run really was at DEBUG, across the HTTP paths that carry the secrets.
    assert "DEBUG" in stderr and "getUpdates" in stderr + stdout or webhook
    assert "/run_sse" in stderr or "run_sse" in stderr, "the backend calls were not logged"
    if log_format == "json":
        assert stderr.lstrip().startswith("{")
    chat = "\n".join(c.params.get("text") or c.params.get("caption") or "" for c in fake.calls)
    for secret in secrets:
        assert secret not in stderr, f"a secret ({secret[:4]}…) is in the log"
        assert secret not in stdout, f"a secret ({secret[:4]}…) is on stdout"
        assert secret not in chat, f"a secret ({secret[:4]}…) was sent to the chat"
