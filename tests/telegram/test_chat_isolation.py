"""Chat isolation through the whole product: one chat never reads, changes or receives another
chat's session, clips or videos — not between two private chats, not between a user's private
chat and a group they are in, and not when a render is resumed after a restart.

The real PTB surface against the fake Bot API, the real Core, Nemo client and local backend."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

pytest.importorskip("engine.fit", reason="engine.fit is not in the tree yet")

from adapters.telegram import TelegramSurface
from backend.config import BackendConfig
from backend.server import LocalBackend
from core.app import Core, CoreConfig
from core.i18n import say
from core.nemo.client import NemoClient
from core.store import Store
from tests.clips import make_clip
from tests.telegram.conftest import FAST, settings_for
from tests.telegram.fake_bot_api import BOT_USERNAME, group_chat, message, private_chat, user, video_field
from tests.telegram.recording_handler import probe

WAIT = 120.0  # liveness bound for real renders on two cores, not a speed check
ALICE, BOB, GROUP = 42, 43, -100500  # Alice's private chat, Bob's, and a group Alice is in
KEYS = {ALICE: "telegram:42", BOB: "telegram:43", GROUP: "telegram:-100500"}


class Bot:
    """Backend, store and client live across restarts; the surface and core are restartable."""

    def __init__(self, tmp_path: Path, fake) -> None:
        self.tmp_path, self.fake = tmp_path, fake
        self.core: Core | None = None
        self.surface: TelegramSurface | None = None

    async def open(self) -> None:
        self.backend = LocalBackend(BackendConfig(data_dir=self.tmp_path / "backend", test_mode=True,
                                                  heartbeat_interval=0.2))
        await self.backend.start()
        self.store = await Store(self.tmp_path / "bot.sqlite3").open()
        self.client = NemoClient(self.backend.url, credentials=self.store, render_poll_interval=0.1)

    async def start(self) -> None:
        self.surface = TelegramSurface.from_settings(settings_for(self.fake, telegram_album_wait=0.3), **FAST)
        self.core = Core(CoreConfig(data_dir=self.tmp_path / "bot"), self.client, self.store,
                         {self.surface.name: self.surface})
        self.surface.bind(self.core)
        await self.core.start()
        await self.surface.start()

    async def stop(self) -> None:
        if self.surface is not None:
            await self.surface.stop()
            self.surface = None
        if self.core is not None:
            await self.core.stop()
            self.core = None

    async def close(self) -> None:
        await self.stop()
        await self.client.close()
        await self.store.close()
        await self.backend.stop()

    async def faults(self, faults: dict | None) -> None:
        async with aiohttp.ClientSession() as http:
            url = f"{self.backend.url}/_test/faults"
            call = http.delete(url) if faults is None else http.post(url, json={"faults": faults})
            async with call as response:
                assert response.status < 300

    async def session(self, chat: int) -> str | None:
        saved = await self.store.chat_session(KEYS[chat])
        return saved.session_id if saved else None


@pytest.fixture
async def bot(tmp_path: Path, fake):
    b = Bot(tmp_path, fake)
    await b.open()
    await b.start()
    yield b
    await b.close()


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[int, Path]:
    folder = tmp_path_factory.mktemp("isolation")
    # Different lengths, so each chat's video can be told apart by its duration.
    return {chat: make_clip(folder / f"{chat}.mp4", duration=seconds, size=(160, 120))
            for chat, seconds in ((ALICE, 1.5), (BOB, 3.0), (GROUP, 2.2))}


async def until(condition) -> None:
    async with asyncio.timeout(WAIT):
        while not await condition():
            await asyncio.sleep(0.1)


def chat_of(chat: int) -> dict:
    return group_chat(chat) if chat < 0 else private_chat(chat)


def sender_of(chat: int) -> dict:
    return user(ALICE if chat in (ALICE, GROUP) else chat)


def say_in(fake, chat: int, text: str) -> None:
    if chat < 0 and not text.startswith("/"):
        text = f"@{BOT_USERNAME} {text}"
    elif chat < 0:
        text = text.replace(" ", f"@{BOT_USERNAME} ", 1) if " " in text else f"{text}@{BOT_USERNAME}"
    fake.inject(message(chat_of(chat), sender_of(chat), text=text))


def send_clip(fake, chat: int, clip: Path, caption: str) -> None:
    if chat < 0:
        caption = f"@{BOT_USERNAME} {caption}"
    fake.inject(message(chat_of(chat), sender_of(chat), caption=caption,
                        video=video_field(fake.add_file(clip), 160, 120, duration=2, name=f"{chat}.mp4")))


def texts_to(fake, chat: int) -> list[str]:
    calls = fake.of("sendMessage") + fake.of("editMessageText")
    return [c.params["text"] for c in calls if int(c.params["chat_id"]) == chat]


def videos_to(fake, chat: int) -> list:
    return [c for c in fake.of("sendVideo") if int(c.params["chat_id"]) == chat]


def video_seconds(call) -> float:
    info = probe(call.files["video"][2])
    assert info is not None, "the video the user got does not play"
    return float(info["format"]["duration"])


async def status_of(fake, chat: int) -> str:
    """Ask /status in a chat and return the answer (the last status-like line sent there)."""
    done = say("status_header", "en"), say("status_empty", "en")
    before = len([t for t in texts_to(fake, chat) if t.startswith(done)])
    say_in(fake, chat, "/status")
    await fake.wait_for(lambda f: len([t for t in texts_to(f, chat) if t.startswith(done)]) > before, timeout=WAIT)
    return [t for t in texts_to(fake, chat) if t.startswith(done)][-1]


async def test_three_chats_at_once_each_get_only_their_own_session_clips_and_videos(bot, fake, clips):
    for chat, caption in ((ALICE, "calm piano"), (BOB, "lo-fi"), (GROUP, "epic drums")):
        send_clip(fake, chat, clips[chat], caption)
    await fake.wait_for(lambda f: all(videos_to(f, chat) for chat in clips), timeout=WAIT)
    assert len(fake.of("sendVideo")) == 3
    for chat, clip in clips.items():
        (video,) = videos_to(fake, chat)
        assert abs(video_seconds(video) - float(probe(clip)["format"]["duration"])) < 0.4  # its own clip
    # In the group the video answers Alice's message there; her private chat is a separate session.
    assert videos_to(fake, GROUP)[0].params.get("reply_to_message_id") or \
        videos_to(fake, GROUP)[0].params.get("reply_parameters")
    sessions = {chat: await bot.session(chat) for chat in clips}
    assert None not in sessions.values() and len(set(sessions.values())) == 3

    kept = {chat: [c.path for c in await bot.store.kept_clips(KEYS[chat])] for chat in clips}
    assert all(len(paths) == 1 for paths in kept.values())
    assert len({paths[0].parent for paths in kept.values()}) == 3  # a folder per chat

    # Alice titles her video; no other chat sees it, nor Alice's music.
    say_in(fake, ALICE, "add title 'Alpha Secret'")
    await fake.wait_for(lambda f: any("Alpha Secret" in t for t in texts_to(f, ALICE)), timeout=WAIT)
    assert "Alpha Secret" in await status_of(fake, ALICE)
    for other in (BOB, GROUP):
        status = await status_of(fake, other)
        assert status.startswith(say("status_header", "en")) and "Alpha Secret" not in status
    assert not any("Alpha Secret" in t for chat in (BOB, GROUP) for t in texts_to(fake, chat))

    # Bob exports: the video goes to Bob, has no title of Alice's, and Alice gets nothing new.
    say_in(fake, BOB, "/export")
    await fake.wait_for(lambda f: len(videos_to(f, BOB)) == 2, timeout=WAIT)
    assert abs(video_seconds(videos_to(fake, BOB)[1]) - 3.0) < 0.4
    assert len(videos_to(fake, ALICE)) == 1 and len(videos_to(fake, GROUP)) == 1

    # A follow-up in the group changes the group's session only.
    alice_before = await status_of(fake, ALICE)
    say_in(fake, GROUP, "add title 'Group Only'")
    await fake.wait_for(lambda f: any("Group Only" in t for t in texts_to(f, GROUP)), timeout=WAIT)
    group_after = await status_of(fake, GROUP)
    assert "Group Only" in group_after and "Alpha Secret" not in group_after
    assert await status_of(fake, ALICE) == alice_before
    assert "Group Only" not in await status_of(fake, BOB)

    # /new in Alice's private chat: her session and clips go; Bob's and the group's stay as they were.
    bob_before, group_before = await status_of(fake, BOB), await status_of(fake, GROUP)
    say_in(fake, ALICE, "/new")
    await fake.wait_for(lambda f: say("new_session", "en") in texts_to(f, ALICE), timeout=WAIT)
    assert await bot.session(ALICE) is None and not await bot.store.kept_clips(KEYS[ALICE])
    assert not kept[ALICE][0].exists()
    assert await bot.session(BOB) == sessions[BOB] and await bot.session(GROUP) == sessions[GROUP]
    assert all(path.exists() for chat in (BOB, GROUP) for path in kept[chat])
    assert await status_of(fake, BOB) == bob_before and await status_of(fake, GROUP) == group_before
    assert await status_of(fake, ALICE) == say("status_empty", "en")


async def test_renders_resumed_after_a_restart_go_each_to_their_own_chat(bot, fake, clips):
    await bot.faults({"render_delay": 4})
    for chat, caption in ((ALICE, "calm piano"), (GROUP, "epic drums"), (BOB, "lo-fi")):
        send_clip(fake, chat, clips[chat], caption)

    async def all_rendering() -> bool:
        jobs = await bot.store.open_jobs()
        return len(jobs) == 3 and all(job.render_id for job in jobs)

    await until(all_rendering)
    await bot.stop()  # a restart while all three render: the jobs stay open
    assert not fake.of("sendVideo")
    jobs = {job.chat_key: job for job in await bot.store.open_jobs()}
    assert set(jobs) == set(KEYS.values())
    for chat, key in KEYS.items():
        assert jobs[key].chat_id == str(chat) and int(jobs[key].delivery["chat_id"]) == chat

    await bot.faults(None)
    await bot.start()
    await fake.wait_for(lambda f: all(videos_to(f, chat) for chat in clips), timeout=WAIT)
    assert len(fake.of("sendVideo")) == 3
    for chat, clip in clips.items():
        (video,) = videos_to(fake, chat)
        assert abs(video_seconds(video) - float(probe(clip)["format"]["duration"])) < 0.4

    async def none_open() -> bool:
        return not await bot.store.open_jobs()

    await until(none_open)  # each delivered exactly once
