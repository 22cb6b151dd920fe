"""Backend faults, end to end through Telegram: the real PTB application against the fake Bot API,
the real core, the real Nemo client and the real local backend on a fixed loopback port, so the
backend can be stopped and started again on the same port with the same data folder.

What each fault must do to the chat: the bot waits and recovers, never sends a chat message to
the backend twice (a second POST /run_sse would be charged again), and says only what the user
needs, in one plain line.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import aiohttp
import pytest

from adapters.telegram import TelegramSurface
from backend.config import BackendConfig
from backend.context import KEY
from backend.server import LocalBackend
from core.app import Core, CoreConfig
from core.nemo.client import NemoClient
from core.store import Store
from tests.clips import make_clip
from tests.telegram.conftest import FAST, settings_for
from tests.telegram.fake_bot_api import FakeBotApi, message, private_chat, user, video_field
from tests.telegram.recording_handler import probe

WAIT = 120.0  # liveness bound for real renders on two cores, not a speed check

WAITING = "can't be reached right now"
GAVE_UP = "still unreachable"
UNKNOWN = "may or may not have been made"
STATUS = "Current timeline:"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RestartableBackend:
    """The local backend on one fixed port and data folder, stopped and started at will."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server: LocalBackend | None = None
        self.past_requests: list[dict] = []  # the request logs of earlier runs

    async def start(self) -> None:
        self.server = LocalBackend(BackendConfig(data_dir=self.data_dir, port=self.port, test_mode=True,
                                                 heartbeat_interval=0.2))
        await self.server.start()

    async def stop(self) -> None:
        if self.server is not None:
            self.past_requests += self.server.app[KEY].request_log
            await self.server.stop()
            self.server = None

    def requests(self) -> list[dict]:
        """What the running backend was asked since it started (the /_test/requests log)."""
        return list(self.server.app[KEY].request_log) if self.server else []

    async def faults(self, faults: dict) -> None:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{self.url}/_test/faults", json={"faults": faults}) as resp:
                assert resp.status == 200, await resp.text()


def _count(requests: list[dict], method: str, path: str) -> int:
    return sum(1 for r in requests if r["method"] == method and r["path"] == path)


def _turns(requests: list[dict]) -> int:
    return _count(requests, "POST", "/run_sse")


class Product:
    """The bot as `aiwm run` wires it, pointed at the restartable backend."""

    def __init__(self, root: Path, fake: FakeBotApi, backend: RestartableBackend) -> None:
        self.root, self.fake, self.backend = root, fake, backend
        self.store: Store | None = None
        self.client: NemoClient | None = None
        self.core: Core | None = None
        self.surface: TelegramSurface | None = None

    async def start(self, backend_wait: float = 120.0) -> None:
        self.store = await Store(self.root / "bot.sqlite3").open()
        self.client = NemoClient(self.backend.url, credentials=self.store, render_poll_interval=0.1,
                                 retry_backoff=0.05, connect_timeout=2.0)
        self.surface = TelegramSurface.from_settings(settings_for(self.fake, telegram_album_wait=0.3), **FAST)
        self.core = Core(CoreConfig(data_dir=self.root / "bot", backend_wait=backend_wait), self.client,
                         self.store, {self.surface.name: self.surface})
        self.core.conversation.config = _quick_retries(self.core.conversation.config)
        self.surface.bind(self.core)
        await self.core.start()
        await self.surface.start()

    async def stop(self) -> None:
        await self.surface.stop()
        await self.core.stop()
        await self.client.close()
        await self.store.close()

    def texts(self) -> list[str]:
        return [c.params["text"] for c in self.fake.of("sendMessage") + self.fake.of("editMessageText")]

    def said(self, fragment: str) -> int:
        return sum(1 for c in self.fake.of("sendMessage") if fragment in c.params["text"])

    def send_clip(self, clip: Path, caption: str | None = None) -> None:
        extra = {"caption": caption} if caption else {}
        self.fake.inject(message(private_chat(), user(), video=video_field(self.fake.add_file(clip), duration=1),
                                 **extra))

    def send_text(self, text: str) -> None:
        self.fake.inject(message(private_chat(), user(), text=text))

    async def wait_for(self, condition, what: str) -> None:
        try:
            await self.fake.wait_for(lambda _f: condition(), timeout=WAIT)
        except (TimeoutError, asyncio.TimeoutError):
            raise AssertionError(f"gave up waiting for {what}; the chat saw: {self.texts()}") from None

    async def videos(self, n: int) -> None:
        await self.wait_for(lambda: len(self.fake.of("sendVideo")) >= n, f"video #{n}")
        assert probe(self.fake.of("sendVideo")[n - 1].files["video"][2]) is not None, "the video does not play"


def _quick_retries(config):
    from dataclasses import replace

    return replace(config, backend_retry_max=0.5)  # test-sized pauses between tries


@pytest.fixture
async def bot_api(tmp_path: Path):
    api = FakeBotApi(tmp_path / "fake")
    await api.start()
    yield api
    await api.stop()


@pytest.fixture
async def outage(tmp_path: Path, bot_api):
    backend = RestartableBackend(tmp_path / "backend")
    product = Product(tmp_path, bot_api, backend)
    yield product
    await product.stop()
    await backend.stop()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("faults") / "tiny.mp4", duration=1.0, size=(160, 120), cuts=[0.5])


async def _wait_backend(backend: RestartableBackend, condition, what: str) -> None:
    for _ in range(int(WAIT / 0.05)):
        if condition(backend.requests()):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the backend never saw {what}")


# --- 1. the backend is down when the bot starts ---------------------------------------------------

async def test_backend_down_at_start_then_up_delivers_without_resending(outage: Product, tiny: Path) -> None:
    await outage.start()  # nothing listens on the backend's port: the bot starts anyway
    outage.send_clip(tiny)
    await outage.wait_for(lambda: outage.said(WAITING), "the 'can't be reached' notice")
    await asyncio.sleep(1.5)  # several tries fail meanwhile
    assert not outage.fake.of("sendVideo")
    await outage.backend.start()
    await outage.videos(1)
    assert outage.said(WAITING) == 1, "the waiting notice was repeated"
    assert not outage.said(GAVE_UP)
    assert _turns(outage.backend.requests()) == 1


async def test_backend_that_stays_down_ends_with_one_plain_line(outage: Product, tiny: Path) -> None:
    await outage.start(backend_wait=1.5)
    outage.send_clip(tiny)
    await outage.wait_for(lambda: outage.said(GAVE_UP), "the 'gave up' line")
    assert outage.said(WAITING) == 1 and outage.said(GAVE_UP) == 1
    assert not outage.fake.of("sendVideo")
    # The next time it is up, the chat works again.
    await outage.backend.start()
    outage.send_clip(tiny)
    await outage.videos(1)


# --- 2. the backend dies mid-turn -------------------------------------------------------------

async def test_backend_dies_mid_turn_the_turn_is_not_resent(outage: Product, tiny: Path) -> None:
    await outage.backend.start()
    await outage.start()
    await outage.backend.faults({"turn_delay": 30})
    outage.send_clip(tiny, caption="calm piano")
    await _wait_backend(outage.backend, lambda r: _turns(r) == 1, "the turn")
    await asyncio.sleep(0.5)  # the turn is streaming heartbeats now
    await outage.backend.stop()
    await outage.wait_for(lambda: outage.said(UNKNOWN), "the 'may or may not' line")
    await outage.backend.start()  # same port, same data; the fault switches are gone
    outage.send_text("/status")
    await outage.wait_for(lambda: outage.said(STATUS), "the status answer")
    outage.send_text("/export")
    await outage.videos(1)
    assert _turns(outage.backend.past_requests) == 1
    assert _turns(outage.backend.requests()) == 0, "the cut turn was sent again after the restart"
    outage.send_text("make it lo-fi")
    await _wait_backend(outage.backend, lambda r: _turns(r) == 1, "the new turn")
    assert await outage.core.drain(WAIT)
    assert _turns(outage.backend.requests()) == 1
    assert outage.said(UNKNOWN) == 1


# --- 3. the backend restarts mid-render -------------------------------------------------------

async def test_backend_restarts_mid_render_the_user_still_gets_the_video(outage: Product, tiny: Path) -> None:
    await outage.backend.start()
    await outage.start()
    await outage.backend.faults({"render_delay": 30})
    outage.send_clip(tiny)
    submit = ("POST", "/api/render/proxy/lambda")
    await _wait_backend(outage.backend, lambda r: _count(r, *submit) == 1, "the render")
    await asyncio.sleep(0.5)  # polls are answered "processing" meanwhile
    await outage.backend.stop()
    await asyncio.sleep(1.5)  # polls fail meanwhile; the bot keeps polling with backoff
    await outage.backend.start()
    await outage.videos(1)
    assert await outage.core.drain(WAIT)
    # The restarted backend failed the old render (credits back); the bot exported again once.
    assert _count(outage.backend.requests(), *submit) == 1
    assert len(outage.fake.of("sendVideo")) == 1
    assert _turns(outage.backend.past_requests + outage.backend.requests()) == 1
    assert not any("failed" in t.lower() for t in outage.texts())


# --- 4. a slow backend ----------------------------------------------------------------------------

async def test_slow_answers_still_complete_with_one_turn(outage: Product, tiny: Path) -> None:
    await outage.backend.start()
    await outage.backend.faults({"response_delay": 2})
    await outage.start()
    outage.send_clip(tiny)
    await outage.videos(1)
    assert await outage.core.drain(WAIT)
    assert _turns(outage.backend.requests()) == 1
    assert len(outage.fake.of("sendVideo")) == 1
    assert not outage.said(WAITING)


# --- 5. 5xx on render polls -----------------------------------------------------------------------

async def test_5xx_on_render_polls_are_retried_and_the_video_comes_once(outage: Product, tiny: Path) -> None:
    await outage.backend.start()
    await outage.backend.faults({"poll_error": 6})
    await outage.start()
    outage.send_clip(tiny)
    await outage.videos(1)
    assert await outage.core.drain(WAIT)
    requests = outage.backend.requests()
    polls = sum(1 for r in requests if r["method"] == "GET" and r["path"].startswith("/api/render/proxy/lambda/"))
    assert polls >= 7  # six failed answers, then the real ones
    assert _count(requests, "POST", "/api/render/proxy/lambda") == 1  # polling errors never re-export
    assert len(outage.fake.of("sendVideo")) == 1
    assert not any("fail" in t.lower() for t in outage.texts())


# --- 6. the stream is cut mid-turn ----------------------------------------------------------------

async def test_cut_stream_is_not_resent_and_the_chat_goes_on(outage: Product, tiny: Path) -> None:
    await outage.backend.start()
    await outage.backend.faults({"cut_stream": True})
    await outage.start()
    outage.send_clip(tiny, caption="calm piano")
    await outage.videos(1)  # the edit happened on the server; what changed is read from the draft
    assert await outage.core.drain(WAIT)
    assert _turns(outage.backend.requests()) == 1
    async with aiohttp.ClientSession() as http:
        await http.delete(f"{outage.backend.url}/_test/faults")
    outage.send_text("make it lo-fi")
    await _wait_backend(outage.backend, lambda r: _turns(r) == 2, "the follow-up turn")
    assert await outage.core.drain(WAIT)
    assert _turns(outage.backend.requests()) == 2
    assert not outage.said(UNKNOWN)
