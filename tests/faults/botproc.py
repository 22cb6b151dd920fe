"""The real bot as a child process, killed and restarted against fakes that outlive it.

The test process runs the fake Telegram Bot API and a real LocalBackend (test mode); the bot
(`python -m bots.cli run`, as shipped; AIWM_RENDER_POLL_INTERVAL=0.2 so a render case takes a
second, not ten) runs in a subprocess with its own data folder, so SIGKILL really
takes it down mid-work while the backend keeps rendering and Telegram keeps its updates. Moments
to kill are found from what the fakes see: the backend's request log, the Bot API's call log.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import aiohttp
from aiohttp import web

from core.i18n import say
from tests.telegram.fake_bot_api import TOKEN, Call, FakeBotApi, message, private_chat, user, video_field

REPO = Path(__file__).resolve().parents[2]
WAIT = 90.0  # liveness bound for one step (a real render on two busy cores), not a speed check


class HoldingBotApi(FakeBotApi):
    """The fake Bot API, plus: sendVideo can hang (an upload to the chat cut off by a kill), and
    only answered uploads count as delivered."""

    def __init__(self, work_dir: Path) -> None:
        super().__init__(work_dir)
        self.hold_videos = False
        # True: every getUpdates answers all updates from its offset on, confirmed or not, as
        # Telegram does for updates whose confirmation (the next getUpdates) a crash cut off.
        self.forget_confirmations = False
        self.delivered: list[Call] = []
        self._release = asyncio.Event()
        self._history: list[dict] = []

    def inject(self, message: dict) -> int:
        update_id = super().inject(message)
        self._history.append(self._updates[-1])
        return update_id

    async def _m_getUpdates(self, params, files):
        if self.forget_confirmations:
            self._updates = list(self._history)
        return await super()._m_getUpdates(params, files)

    async def _m_sendVideo(self, params, files):
        if self.hold_videos:
            await self._release.wait()  # the bot dies meanwhile: this upload never completes
            return web.json_response({"ok": False, "error_code": 400, "description": "Bad Request: aborted"},
                                     status=400)
        answer = await super()._m_sendVideo(params, files)
        if answer.status == 200:
            self.delivered.append(next(c for c in reversed(self.calls) if c.params is params))
        return answer

    async def stop(self) -> None:
        # Wake handlers a killed bot left waiting (a long poll, a held upload) so the server stops.
        self._release.set()
        self._new_update.set()
        await super().stop()


class BotProcess:
    def __init__(self, proc: asyncio.subprocess.Process, log_path: Path) -> None:
        self.proc = proc
        self.log_path = log_path

    @property
    def running(self) -> bool:
        return self.proc.returncode is None

    async def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    def terminate(self) -> None:
        self.proc.send_signal(signal.SIGTERM)

    async def exit_code(self, timeout: float = WAIT) -> int:
        return await asyncio.wait_for(self.proc.wait(), timeout)

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


class Rig:
    """Fake Telegram + real backend in this process, the bot as a child; helpers to read both."""

    def __init__(self, fake: HoldingBotApi, backend_url: str, data_dir: Path, log_dir: Path) -> None:
        self.fake = fake
        self.backend_url = backend_url
        self.data_dir = data_dir
        self.log_dir = log_dir
        self.bots: list[BotProcess] = []
        self.http = aiohttp.ClientSession()

    def env(self, **extra: str) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("AIWM_", "NEMO_", "TELEGRAM_", "DISCORD_"))}
        env.update({
            "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1",
            "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": self.fake.api_url,
            "TELEGRAM_FILE_URL": self.fake.file_url, "NEMO_API_URL": self.backend_url,
            "AIWM_DATA_DIR": str(self.data_dir), "AIWM_LOG_LEVEL": "INFO", "TELEGRAM_ALBUM_WAIT": "0.3",
            "AIWM_RATE_PER_MINUTE": "0", "AIWM_MAX_JOBS_PER_USER": "0", "AIWM_MAX_JOBS": "0",
            "AIWM_RENDER_POLL_INTERVAL": "0.2",
        })
        env.update(extra)
        return env

    async def start_bot(self, **extra_env: str) -> BotProcess:
        """Start `aiwm run` and wait until it polls Telegram (so it has resumed what it had)."""
        polls_before = len(self.fake.of("getUpdates"))
        log_path = self.log_dir / f"bot-{len(self.bots)}.log"
        with open(log_path, "wb") as log:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bots.cli", "run", cwd=self.log_dir, env=self.env(**extra_env),
                stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log)
        bot = BotProcess(proc, log_path)
        self.bots.append(bot)
        try:
            await until(lambda: len(self.fake.of("getUpdates")) > polls_before or not bot.running)
        except TimeoutError:
            raise AssertionError(f"the bot did not start polling:\n{bot.log_tail()}") from None
        assert bot.running, f"the bot exited at start:\n{bot.log_tail()}"
        return bot

    async def close(self) -> None:
        for bot in self.bots:
            if bot.running:
                await bot.kill()
        await self.http.close()

    # --- the backend -------------------------------------------------------------------------

    async def requests(self, method: str, path: str) -> list[dict]:
        async with self.http.get(f"{self.backend_url}/_test/requests") as response:
            log = (await response.json())["requests"]
        return [r for r in log if r["method"] == method and r["path"].startswith(path)]

    async def wait_requests(self, method: str, path: str, count: int, timeout: float = WAIT) -> list[dict]:
        async def seen() -> list[dict]:
            while len(found := await self.requests(method, path)) < count:
                await asyncio.sleep(0.05)
            return found
        return await asyncio.wait_for(seen(), timeout)

    async def set_faults(self, faults: dict, session_id: str | None = None) -> None:
        async with self.http.post(f"{self.backend_url}/_test/faults",
                                  json={"faults": faults, "session_id": session_id}) as response:
            assert response.status == 200, await response.text()

    async def clear_faults(self) -> None:
        async with self.http.delete(f"{self.backend_url}/_test/faults") as response:
            assert response.status == 200

    # --- the chat ----------------------------------------------------------------------------

    def send_text(self, chat: int, text: str) -> None:
        self.fake.inject(message(private_chat(chat), user(chat), text=text))

    def send_clip(self, chat: int, clip: Path, caption: str | None = None) -> None:
        self.fake.inject(message(private_chat(chat), user(chat), caption=caption,
                                 video=video_field(self.fake.add_file(clip), width=160, height=120, duration=1)))

    def texts(self, chat: int) -> list[str]:
        return [c.params["text"] for c in self.fake.of("sendMessage") if int(c.params["chat_id"]) == chat]

    def said(self, chat: int, key: str, lang: str = "en") -> int:
        """How many times the chat got exactly the line `key` (core/i18n.py)."""
        return self.texts(chat).count(say(key, lang))

    def videos(self, chat: int) -> list[Call]:
        return [c for c in self.fake.delivered if int(c.params["chat_id"]) == chat]

    def upload_attempts(self, chat: int) -> list[Call]:
        return [c for c in self.fake.of("sendVideo") if int(c.params["chat_id"]) == chat]

    async def wait_chat(self, predicate, timeout: float = WAIT) -> None:
        try:
            await until(predicate, timeout)
        except TimeoutError:
            tail = self.bots[-1].log_tail() if self.bots else ""
            calls = [(c.method, c.params.get("chat_id"), str(c.params.get("text", ""))[:60]) for c in self.fake.calls
                     if c.method != "getUpdates"]
            raise AssertionError(f"the chat never got there; Bot API calls: {calls}\n{tail}") from None

    async def settle(self, chat: int) -> None:
        """Wait until the chat's queue has run dry: /status goes through the same lane, so its answer
        comes after anything the bot still had to do there (a resumed job, a replayed message)."""
        before = len([t for t in self.texts(chat) if _is_status(t)])
        self.send_text(chat, "/status")
        await self.wait_chat(lambda: len([t for t in self.texts(chat) if _is_status(t)]) > before)


async def until(predicate, timeout: float = WAIT) -> None:
    """Wait until predicate() holds, looking every 50 ms (calls count when they arrive, not when
    answered: a long poll or a held upload is seen at once)."""
    async def watch() -> None:
        while not predicate():
            await asyncio.sleep(0.05)
    await asyncio.wait_for(watch(), timeout)


def _is_status(text: str) -> bool:
    return text.startswith(say("status_header", "en")) or text == say("status_empty", "en")
