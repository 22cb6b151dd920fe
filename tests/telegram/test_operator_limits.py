"""Operator restrictions through the whole product: the real PTB surface against the fake Bot API,
the real Core built from the real settings (`core_config_from`), the real Nemo client and the
real local backend. Backend faults (turn_delay) hold work open so limits can be seen."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

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
from tests.telegram.fake_bot_api import BOT_USERNAME, group_chat, message, private_chat, user, video_field
from tests.telegram.recording_handler import probe

WAIT = 120.0  # liveness bound for real renders on two cores, not a speed check
OPEN = dict(aiwm_rate_per_minute=None, aiwm_max_jobs_per_user=None, aiwm_max_jobs=None)


class Product:
    def __init__(self, core: Core, backend: LocalBackend, store: Store) -> None:
        self.core, self.backend, self.store = core, backend, store

    async def faults(self, faults: dict | None) -> None:
        """Set global backend faults (None clears them)."""
        async with aiohttp.ClientSession() as http:
            if faults is None:
                async with http.delete(f"{self.backend.url}/_test/faults") as response:
                    assert response.status < 300
            else:
                async with http.post(f"{self.backend.url}/_test/faults", json={"faults": faults}) as response:
                    assert response.status < 300, await response.text()


@pytest.fixture
async def launch(tmp_path: Path, fake):
    """Start the product wired as `aiwm run` wires it, with settings the test chooses."""
    stack: list = []

    async def start(**settings_values) -> Product:
        backend = LocalBackend(BackendConfig(data_dir=tmp_path / "backend", test_mode=True, heartbeat_interval=0.2))
        await backend.start()
        stack.append(backend.stop)
        store = await Store(tmp_path / "bot.sqlite3").open()
        stack.append(store.close)
        client = NemoClient(backend.url, credentials=store, render_poll_interval=0.1)
        stack.append(client.close)
        settings = settings_for(fake, telegram_album_wait=0.3, aiwm_data_dir=tmp_path / "bot",
                                **{**OPEN, **settings_values})
        surface = TelegramSurface.from_settings(settings, **FAST)
        core = Core(core_config_from(settings), client, store, {surface.name: surface})
        surface.bind(core)
        await core.start()
        stack.append(core.stop)
        await surface.start()
        stack.append(surface.stop)
        return Product(core, backend, store)

    yield start
    for stop in reversed(stack):
        await stop()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("limits") / "tiny.mp4", duration=1.5, size=(160, 120))


def texts_to(fake, chat_id: int) -> list[str]:
    calls = fake.of("sendMessage") + fake.of("editMessageText")
    return [c.params["text"] for c in calls if int(c.params["chat_id"]) == chat_id]


def videos_to(fake, chat_id: int) -> list:
    return [c for c in fake.of("sendVideo") if int(c.params["chat_id"]) == chat_id]


def clip_message(fake, clip: Path, chat: dict, sender: dict, caption: str | None = None) -> dict:
    return message(chat, sender, caption=caption, video=video_field(fake.add_file(clip), 160, 120, duration=1))


async def test_a_stranger_is_refused_once_politely_and_an_allowed_user_gets_the_video(launch, fake, tiny):
    await launch(aiwm_allowed_users=["telegram:42"], aiwm_allowed_chats=["-100777"], aiwm_admin_contact="@owner")
    stranger, group = user(99, name="Mallory"), group_chat(-100500)
    fake.inject(clip_message(fake, tiny, private_chat(99), stranger))
    fake.inject(message(private_chat(99), stranger, text="/start"))
    fake.inject(clip_message(fake, tiny, group, stranger, caption=f"@{BOT_USERNAME} piano"))
    fake.inject(message(group, stranger, text=f"/status@{BOT_USERNAME}"))
    fake.inject(message(group, stranger, text=f"/export@{BOT_USERNAME}"))
    await fake.wait_for(lambda f: texts_to(f, 99) and texts_to(f, -100500), timeout=WAIT)

    # An allowed user's clip goes all the way, and an allowed group's member is served there.
    fake.inject(clip_message(fake, tiny, private_chat(42), user(42)))
    fake.inject(message(group_chat(-100777), user(77), text=f"/status@{BOT_USERNAME}"))
    await fake.wait_for(lambda f: videos_to(f, 42) and texts_to(f, -100777), timeout=WAIT)
    assert probe(videos_to(fake, 42)[0].files["video"][2]) is not None
    assert "private" not in " ".join(texts_to(fake, 42) + texts_to(fake, -100777))

    # The stranger heard exactly one line per chat, naming whom to ask and nothing of the lists.
    for chat_id in (99, -100500):
        said = texts_to(fake, chat_id)
        assert len(said) == 1 and "private to its community" in said[0] and "@owner" in said[0]
        assert "42" not in said[0] and "777" not in said[0]
        assert not videos_to(fake, chat_id)
    assert len(fake.file_downloads) == 1  # only the allowed user's clip was ever downloaded


async def test_the_rate_limit_says_how_long_to_wait_and_help_still_answers(launch, fake):
    await launch(aiwm_rate_per_minute=2)
    for _ in range(4):
        fake.inject(message(private_chat(), user(), text="/status"))
    fake.inject(message(private_chat(), user(), text="/help"))
    def answered(f) -> bool:
        said = texts_to(f, 42)
        return said.count(say("status_empty", "en")) == 2 and say("help", "en") in said and \
            any("give me a minute" in t for t in said)
    await fake.wait_for(answered, timeout=WAIT)
    said = [t for t in texts_to(fake, 42) if t != say("queued", "en")]
    slow = [t for t in said if "give me a minute" in t]
    assert len(slow) == 1  # told once, not once per message
    seconds = int(slow[0].split("Try again in ")[1].split(" s")[0])
    assert 1 <= seconds <= 60
    assert said.count(say("help", "en")) == 1  # /help is never limited
    assert len(said) == 4  # two answers, one refusal, help: the fourth /status was dropped silently


async def test_a_third_clip_waits_for_one_of_two_in_flight_and_a_slot_frees_when_work_ends(launch, fake, tiny):
    product = await launch(aiwm_max_jobs_per_user=2)
    await product.faults({"turn_delay": 8})
    # The same user in two chats: the cap is per user, not per chat.
    fake.inject(clip_message(fake, tiny, private_chat(42), user(42)))
    fake.inject(clip_message(fake, tiny, group_chat(), user(42), caption=f"@{BOT_USERNAME} piano"))
    await fake.wait_for(lambda f: len(f.file_downloads) == 2, timeout=WAIT)
    fake.inject(clip_message(fake, tiny, private_chat(42), user(42)))
    await fake.wait_for(lambda f: any("videos in the works" in t for t in texts_to(f, 42)), timeout=WAIT)
    refusal = next(t for t in texts_to(fake, 42) if "videos in the works" in t)
    assert "already have 2 videos" in refusal
    assert len(fake.file_downloads) == 2  # the third clip was not even downloaded

    await product.faults(None)
    await fake.wait_for(lambda f: videos_to(f, 42) and videos_to(f, group_chat()["id"]), timeout=WAIT)
    await fake.wait_for(lambda f: product.core.policy.jobs_in_flight() == 0, timeout=WAIT)
    fake.inject(clip_message(fake, tiny, private_chat(42), user(42)))
    await fake.wait_for(lambda f: len(videos_to(f, 42)) == 2, timeout=WAIT)
    assert len([t for t in texts_to(fake, 42) if "videos in the works" in t]) == 1


async def test_the_global_cap_spans_users_and_cancel_frees_a_slot(launch, fake, tiny):
    product = await launch(aiwm_max_jobs_per_user=2, aiwm_max_jobs=2)
    await product.faults({"turn_delay": 30})
    fake.inject(clip_message(fake, tiny, private_chat(1), user(1)))
    fake.inject(clip_message(fake, tiny, private_chat(2), user(2)))
    await fake.wait_for(lambda f: len(f.file_downloads) == 2, timeout=WAIT)
    fake.inject(clip_message(fake, tiny, private_chat(3), user(3, language="zh")))
    await fake.wait_for(lambda f: texts_to(f, 3), timeout=WAIT)
    assert texts_to(fake, 3) == ["当前处理的视频较多，请几分钟后再试。"]

    fake.inject(message(private_chat(1), user(1), text="/cancel"))
    await fake.wait_for(lambda f: product.core.policy.jobs_in_flight() == 1, timeout=WAIT)
    await product.faults(None)
    fake.inject(clip_message(fake, tiny, private_chat(3), user(3, language="zh")))
    await fake.wait_for(lambda f: videos_to(f, 3), timeout=WAIT)
    assert probe(videos_to(fake, 3)[0].files["video"][2]) is not None
    assert not videos_to(fake, 1)  # the cancelled one never arrived


async def test_operator_caps_on_clip_size_and_length_are_stated_with_numbers(launch, fake, tiny):
    await launch(aiwm_max_clip_mb=1, aiwm_max_clip_seconds=1)
    big = fake.add_file(None, size=3 * 1024 * 1024)
    fake.inject(message(private_chat(5), user(5), video=video_field(big, 160, 120, duration=1)))
    await fake.wait_for(lambda f: any("largest" in t for t in texts_to(f, 5)), timeout=WAIT)
    assert any("3 MB" in t and "largest clip this bot accepts is 1 MB" in t for t in texts_to(fake, 5)), texts_to(fake, 5)
    assert not fake.file_downloads  # refused from the platform's claim, nothing downloaded

    # A clip that claims 1 s but really runs 1.5 s: caught by the probe after the download.
    fake.inject(clip_message(fake, tiny, private_chat(6), user(6)))
    await fake.wait_for(lambda f: any("longest" in t for t in texts_to(f, 6)), timeout=WAIT)
    line = next(t for t in texts_to(fake, 6) if "longest" in t)
    assert "2s long" in line and "accepts is 1s" in line
    assert not fake.of("sendVideo")
