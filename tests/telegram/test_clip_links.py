"""Clip links through the whole product: the real PTB surface against the fake Bot API, the real
Core built from the real settings, the real Nemo client and the real local backend on loopback.

The operator escape hatch allows exactly 127.0.0.1/32 so a loopback site can stand in for a
public one; every other local, private or metadata address stays refused, with a plain reply.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web

pytest.importorskip("engine.fit", reason="engine.fit is not in the tree yet")

from adapters.telegram import TelegramSurface
from backend.config import BackendConfig
from backend.server import LocalBackend
from bots.runtime import core_config_from
from core.app import Core
from core.i18n import say
from core.nemo.client import NemoClient
from core.store import Store
from tests.clips import make_clip
from tests.telegram.conftest import FAST, settings_for
from tests.telegram.fake_bot_api import message, private_chat, user
from tests.telegram.recording_handler import probe

WAIT = 120.0  # liveness bound for real renders on two cores, not a speed check
OPEN = dict(aiwm_rate_per_minute=None, aiwm_max_jobs_per_user=None, aiwm_max_jobs=None)


class ClipSite:
    """A loopback web site with one real clip, a web page and a text file; it records each request."""

    def __init__(self, clip: Path) -> None:
        self.paths: list[str] = []
        app = web.Application(middlewares=[self._record])
        async def clip_file(request):
            return web.FileResponse(clip)

        async def web_page(request):
            return web.Response(text="<html>player</html>", content_type="text/html")

        async def text_file(request):
            return web.Response(text="not a clip")

        app.router.add_get("/media/holiday.mp4", clip_file)
        app.router.add_get("/watch", web_page)
        app.router.add_get("/notes.txt", text_file)
        self.runner = web.AppRunner(app)
        self.url = ""

    @web.middleware
    async def _record(self, request, handler):
        self.paths.append(request.path)
        return await handler(request)

    async def start(self) -> None:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def holiday(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("links") / "holiday.mp4", duration=2.0, audio="tone", cuts=[1.0])


@pytest.fixture
async def site(holiday):
    clip_site = ClipSite(holiday)
    await clip_site.start()
    yield clip_site
    await clip_site.runner.cleanup()


@pytest.fixture
async def product(tmp_path: Path, fake):
    backend = LocalBackend(BackendConfig(data_dir=tmp_path / "backend", test_mode=True, heartbeat_interval=0.2))
    await backend.start()
    store = await Store(tmp_path / "bot.sqlite3").open()
    client = NemoClient(backend.url, credentials=store, render_poll_interval=0.1)
    # Wired as `aiwm run` wires it, with the operator's escape hatch for exactly the loopback site.
    settings = settings_for(fake, telegram_album_wait=0.3, aiwm_data_dir=tmp_path / "bot",
                            aiwm_link_allowed_networks="127.0.0.1/32", **OPEN)
    surface = TelegramSurface.from_settings(settings, **FAST)
    core = Core(core_config_from(settings), client, store, {surface.name: surface})
    surface.bind(core)
    await core.start()
    await surface.start()
    yield core
    await surface.stop()
    await core.stop()
    await client.close()
    await store.close()
    await backend.stop()


def texts_to(fake, chat_id: int) -> list[str]:
    calls = fake.of("sendMessage") + fake.of("editMessageText")
    return [c.params["text"] for c in calls if int(c.params["chat_id"]) == chat_id]


def videos_to(fake, chat_id: int) -> list:
    return [c for c in fake.of("sendVideo") if int(c.params["chat_id"]) == chat_id]


def assert_music_video(call, seconds: float) -> None:
    info = probe(call.files["video"][2])
    assert info is not None, "the video the user got does not play"
    assert {s["codec_type"] for s in info["streams"]} >= {"video", "audio"}
    assert abs(float(info["format"]["duration"]) - seconds) <= 1


async def test_a_pasted_link_comes_back_as_a_video_with_music(product, fake, site):
    fake.inject(message(private_chat(42), user(42), text=f"lo-fi please {site.url}/media/holiday.mp4?sig=abc"))
    await fake.wait_for(lambda f: videos_to(f, 42), timeout=WAIT)
    assert_music_video(videos_to(fake, 42)[0], 2.0)
    assert site.paths == ["/media/holiday.mp4"]  # fetched once
    assert not any("couldn't" in text for text in texts_to(fake, 42))


PRIVATE = say("link_private", "en")
SCHEME = say("link_scheme_refused", "en")


async def test_bad_links_get_a_clear_reply_and_another_chat_keeps_working(product, fake, site):
    port = site.port
    cases = {  # chat id -> (message, what the reply must say)
        201: (f"http://127.0.0.2:{port}/media/holiday.mp4", PRIVATE),
        202: (f"make it jazzy http://localhost:{port}/media/holiday.mp4", PRIVATE),
        203: ("http://10.0.0.1/clip.mp4", PRIVATE),
        204: ("http://169.254.169.254/latest/meta-data", PRIVATE),
        205: (f"http://[::1]:{port}/x.mp4", PRIVATE),
        206: (f"http://[::ffff:127.0.0.2]:{port}/x.mp4", PRIVATE),
        207: ("file:///etc/passwd", SCHEME),
        208: (f"ftp://127.0.0.1:{port}/media/holiday.mp4", SCHEME),
        209: ("gopher://127.0.0.1:70/_GET", SCHEME),
        210: (f"{site.url}/watch?v=abc", say("link_web_page", "en")),
        211: (f"{site.url}/notes.txt", "isn't a video"),
    }
    for chat_id, (text, _) in cases.items():
        fake.inject(message(private_chat(chat_id), user(chat_id), text=text))
    # Meanwhile a Chinese-speaking user's good link is served, and their bad one refused in Chinese.
    fake.inject(message(private_chat(77), user(77, language="zh"), text=f"{site.url}/media/holiday.mp4 请配乐"))
    fake.inject(message(private_chat(78), user(78, language="zh"), text="file:///etc/shadow"))

    def settled(f) -> bool:
        return bool(videos_to(f, 77) and texts_to(f, 78)
                    and all(any(expected in t for t in texts_to(f, chat)) for chat, (_, expected) in cases.items()))

    await fake.wait_for(settled, timeout=WAIT)
    assert_music_video(videos_to(fake, 77)[0], 2.0)
    assert texts_to(fake, 78) == [say("link_scheme_refused", "zh")]
    for chat_id, (text, expected) in cases.items():
        said = " ".join(texts_to(fake, chat_id))
        assert not videos_to(fake, chat_id), f"chat {chat_id} got a video for {text}"
        # Nothing internal is echoed: neither the addresses behind a name nor the link's query.
        for leak in ("127.0.0", "::1", "10.0.0.1", "169.254", "passwd", "v=abc", "Traceback"):
            assert leak not in said, (chat_id, said)
        if expected == SCHEME:
            assert texts_to(fake, chat_id) == [SCHEME]  # refused at once, nothing started
    # Only the good link, the web page and nothing else ever reached the site (the .txt was never fetched).
    assert sorted(site.paths) == ["/media/holiday.mp4", "/watch"]
    assert len(fake.of("sendVideo")) == 1
