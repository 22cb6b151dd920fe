"""The whole product through Discord: real discord.py against the fake Discord, the real core,
the real Nemo client and the real local backend rendering with the offline music engine."""

from __future__ import annotations

import pytest

from tests.discord import payloads as p
from tests.discord.conftest import until
from tests.discord.test_commands_live import probe

try:  # the core, backend and engine are other parts of the repo, built in parallel
    import engine.pipeline  # noqa: F401
    from backend.config import BackendConfig
    from backend.server import LocalBackend
    from core.app import Core, CoreConfig
    from core.nemo.auth import MemoryCredentials
    from core.nemo.client import NemoClient
    from core.store import Store
    MISSING = None
except ImportError as error:  # pragma: no cover
    MISSING = str(error)

pytestmark = pytest.mark.skipif(MISSING is not None, reason=f"the full stack is not importable yet: {MISSING}")

MiB = 1024 * 1024


@pytest.fixture
async def real_core(tmp_path):
    backend = LocalBackend(BackendConfig(data_dir=tmp_path / "backend", test_mode=True))
    await backend.start()
    store = await Store(tmp_path / "aiwm.sqlite3").open()
    client = NemoClient(backend.url, credentials=MemoryCredentials(), render_poll_interval=0.05)
    core = Core(CoreConfig(data_dir=tmp_path / "data"), client, store)
    await core.start()
    try:
        yield core
    finally:
        await core.stop()
        await client.close()
        await store.close()
        await backend.stop()


@pytest.fixture
async def discord_bot(fake, tmp_path, real_core):
    from adapters.discord import DiscordConfig, DiscordSurface

    surface = DiscordSurface(None, config=DiscordConfig(
        token="fake-bot-token", api_url=fake.url, staging_dir=tmp_path / "staging", progress_interval=0.2))
    real_core.add_surface(surface)
    surface.bind(real_core)
    await surface.start()
    await until(lambda: surface.client.get_guild(p.GUILD_ID) is not None)
    try:
        yield surface
    finally:
        await surface.stop()


async def test_music_command_returns_the_clip_with_music(fake, discord_bot, clip, tmp_path):
    att = p.attachment(fake.serve("clip.mp4", clip), size=clip.stat().st_size)
    payload = p.music(att, prompt="calm piano", size_limit=25 * MiB)
    await fake.dispatch("INTERACTION_CREATE", payload)
    await until(lambda: fake.files(), timeout=180)

    [(message, name, data)] = fake.files()
    assert message.via == "followup" and message.token == payload["token"]
    assert name.endswith(".mp4") and len(data) <= 25 * MiB
    plays, has_audio, duration = probe(data, tmp_path)
    assert plays and has_audio and duration == pytest.approx(1.5, abs=0.3)
    assert data != clip.read_bytes()  # a new file: the music was mixed in
    assert message.content and "🎵" in message.content  # the core's caption came with it
    original = fake.original(payload["token"])
    assert fake.callbacks[0]["type"] == 5  # deferred first
    shown = [e for e in original.edits if e]
    assert shown[0].startswith("📥") and any("Rendering the video ·" in e for e in shown)  # progress in place
    await until(lambda: original.deleted)  # and cleared once the video was there

    # The same channel's session answers /status about that video.
    status = p.slash("status")
    await fake.dispatch("INTERACTION_CREATE", status)
    await until(lambda: (fake.original(status["token"]) or None) and fake.original(status["token"]).content)
    answer = fake.original(status["token"]).content
    assert answer.startswith("Current timeline:") and "Video: clip.mp4" in answer and "BGM" in answer


async def test_help_and_export_with_nothing_to_export(fake, discord_bot):
    help_payload = p.slash("help", guild=False)
    await fake.dispatch("INTERACTION_CREATE", help_payload)
    await until(lambda: fake.original(help_payload["token"]) and fake.original(help_payload["token"]).content)
    assert fake.original(help_payload["token"]).content.startswith("How to use me")

    export = p.slash("export", guild=False, locale="zh-CN")
    await fake.dispatch("INTERACTION_CREATE", export)
    await until(lambda: fake.original(export["token"]) and fake.original(export["token"]).content)
    assert "请先发送一段视频" in fake.original(export["token"]).content


async def test_a_mention_with_a_video_gets_the_video_back_in_the_channel(fake, discord_bot, clip, tmp_path):
    from tests.discord.fake_discord import APP_ID

    att = p.attachment(fake.serve("m.mp4", clip), filename="m.mp4", size=clip.stat().st_size)
    bot = {"id": str(APP_ID), "username": "aiwm", "discriminator": "0", "avatar": None, "bot": True}
    message = p.user_message(f"<@{APP_ID}> lo-fi please", attachments=[att], mentions=[bot])
    await fake.dispatch("MESSAGE_CREATE", message)
    await until(lambda: fake.files(), timeout=180)
    [(sent, _name, data)] = fake.files()
    assert sent.via == "channel" and sent.channel_id == p.CHANNEL_ID and sent.reference == int(message["id"])
    plays, has_audio, _ = probe(data, tmp_path)
    assert plays and has_audio


async def test_a_tiny_upload_limit_from_the_interaction_reaches_the_core(fake, discord_bot, clip):
    att = p.attachment(fake.serve("small.mp4", clip), size=clip.stat().st_size)
    payload = p.music(att, size_limit=2000)  # no video fits in 2 kB
    await fake.dispatch("INTERACTION_CREATE", payload)

    def said_too_big() -> bool:
        return any("over this chat's" in (m.content or "") for m in fake.messages.values())

    await until(said_too_big, timeout=180)
    assert fake.files() == []  # nothing was uploaded that Discord would refuse
