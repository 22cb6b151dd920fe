"""The whole product through Telegram: the real PTB Application against the fake Bot API, the
real Core, the real Nemo client and the real local backend on loopback, real renders."""

from __future__ import annotations

from pathlib import Path

import pytest

# The core needs the engine's fitting step; until it has landed these tests cannot run.
pytest.importorskip("engine.fit", reason="engine.fit is not in the tree yet")

from adapters.telegram import TelegramSurface
from backend.config import BackendConfig
from backend.server import LocalBackend
from core.app import Core, CoreConfig
from core.nemo.client import NemoClient
from core.store import Store
from tests.clips import make_clip
from tests.telegram.conftest import FAST, settings_for
from tests.telegram.fake_bot_api import (BOT_USERNAME, document_field, group_chat, message, private_chat, user,
                                         video_field)
from tests.telegram.recording_handler import probe

WAIT = 120.0  # liveness bound for a real render on two cores, not a speed check


@pytest.fixture
async def product(tmp_path: Path, fake):
    backend = LocalBackend(BackendConfig(data_dir=tmp_path / "backend", test_mode=True, heartbeat_interval=0.2))
    await backend.start()
    store = await Store(tmp_path / "bot.sqlite3").open()
    client = NemoClient(backend.url, credentials=store, render_poll_interval=0.1)
    # Wired as `aiwm run` wires it: the surface first, the core with its surfaces, then bind.
    surface = TelegramSurface.from_settings(settings_for(fake, telegram_album_wait=0.3), **FAST)
    core = Core(CoreConfig(data_dir=tmp_path / "bot"), client, store, {surface.name: surface})
    surface.bind(core)
    await core.start()
    await surface.start()
    yield core
    await surface.stop()
    await core.stop()
    await client.close()
    await store.close()
    await backend.stop()


@pytest.fixture(scope="module")
def holiday(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("e2e") / "holiday.mp4", duration=2.0, audio="tone", cuts=[1.0])


def _texts(fake) -> list[str]:
    return [c.params["text"] for c in fake.of("sendMessage") + fake.of("editMessageText")]


async def test_clip_in_a_private_chat_comes_back_with_music(product, fake, holiday):
    fake.inject(message(private_chat(), user(), caption="calm piano",
                        video=video_field(fake.add_file(holiday), duration=2)))
    await fake.wait_for(lambda f: f.of("sendVideo"), timeout=WAIT)
    call = fake.of("sendVideo")[0]
    info = probe(call.files["video"][2])
    assert info is not None, "the video the user got does not play"
    streams = {s["codec_type"]: s for s in info["streams"]}
    assert "audio" in streams
    assert (call.params["width"], call.params["height"]) == (streams["video"]["width"], streams["video"]["height"])
    assert abs(call.params["duration"] - float(info["format"]["duration"])) <= 1
    assert call.params["supports_streaming"] is True and fake.thumbnail_of(call) is not None
    # Progress was one status message, edited in place rather than re-posted.
    assert fake.of("editMessageText") or fake.of("deleteMessage")
    assert len([t for t in _texts(fake) if t.startswith("📥")]) <= 2


async def test_group_command_replying_to_a_clip_and_core_refusals(product, fake, holiday, tmp_path):
    posted = message(group_chat(), user(1), video=video_field(fake.add_file(holiday)))
    fake.inject(posted)
    fake.inject(message(group_chat(), user(2), text="just chatting"))
    fake.inject(message(group_chat(), user(2), text=f"/music@{BOT_USERNAME}", reply_to_message=posted))
    await fake.wait_for(lambda f: f.of("sendVideo"), timeout=WAIT)
    assert int(fake.of("sendVideo")[0].params["chat_id"]) == group_chat()["id"]

    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(b"%PDF-1.4 nothing to see")
    downloads = len(fake.file_downloads)
    fake.inject(message(private_chat(), user(), document=document_field(fake.add_file(pdf), "application/pdf",
                                                                          "report.pdf")))
    fake.inject(message(private_chat(8), user(8), video=video_field(fake.add_file(None, size=60 * 1024 * 1024))))
    await fake.wait_for(lambda f: any("isn't a video" in t for t in _texts(f))
                        and any("20 MB" in t for t in _texts(f)), timeout=WAIT)
    assert len(fake.file_downloads) == downloads  # neither was downloaded


async def test_follow_up_and_export_in_the_same_chat(product, fake, holiday):
    fake.inject(message(private_chat(), user(), video=video_field(fake.add_file(holiday))))
    await fake.wait_for(lambda f: f.of("sendVideo"), timeout=WAIT)
    fake.inject(message(private_chat(), user(), text="make it lo-fi"))
    fake.inject(message(private_chat(), user(), text="/export"))
    await fake.wait_for(lambda f: len(f.of("sendVideo")) == 2, timeout=WAIT)
    second = fake.of("sendVideo")[1]
    assert probe(second.files["video"][2]) is not None
    assert second.files["video"][2].read_bytes() != fake.of("sendVideo")[0].files["video"][2].read_bytes()
