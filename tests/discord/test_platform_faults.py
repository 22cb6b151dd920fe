"""Discord answers 429 in bursts (per route or global), 5xx, or drops an upload: the bot backs off
and finishes. Real discord.py against the fake Discord; one case runs the whole product (real
core, real Nemo client, real local backend)."""

from __future__ import annotations

import pytest

from core.i18n import say
from core.metrics import REGISTRY
from core.ports import OutgoingVideo, Progress
from tests.discord import payloads as p
from tests.discord.conftest import until

MiB = 1024 * 1024
QUICK_RETRIES = dict(retry_base=0.05, retry_cap=0.5)


def retries(reason: str) -> float:
    return REGISTRY.get_sample_value("aiwm_platform_retries_total",
                                     {"surface": "discord", "reason": reason}) or 0.0


async def send_clip(fake, clip, name: str, **kw) -> dict:
    att = p.attachment(fake.serve(name, clip), size=clip.stat().st_size)
    payload = p.music(att, **kw)
    await fake.dispatch("INTERACTION_CREATE", payload)
    return payload


async def test_a_burst_of_five_429s_on_the_upload_ends_with_exactly_one_video(fake, start_surface, clip):
    _surface, handler = await start_surface(**QUICK_RETRIES)
    before = retries("rate_limited")
    fake.rate_limit("followup", times=5, retry_after=0.1)  # as many as discord.py tries on its own
    payload = await send_clip(fake, clip, "burst.mp4")
    await handler.wait_done()

    [(message, _name, data)] = fake.files()
    assert message.via == "followup" and message.token == payload["token"] and data == clip.read_bytes()
    assert fake.fault_hits.count(("followup", "429")) == 5
    assert retries("rate_limited") - before >= 5  # discord.py's own four, then ours


async def test_a_dropped_upload_is_sent_again_with_a_fresh_file_and_arrives_once(fake, start_surface, clip):
    _surface, handler = await start_surface(**QUICK_RETRIES)
    before = retries("network")
    fake.drop_upload("followup", times=2, after_bytes=2048)  # discord.py gives up on these at once
    await send_clip(fake, clip, "dropped.mp4")
    await handler.wait_done()

    [(_message, _name, data)] = fake.files()
    assert data == clip.read_bytes()  # the whole file again: not a closed or half-read handle
    assert fake.fault_hits.count(("followup", "drop")) == 2
    assert retries("network") - before >= 2


async def test_a_cloudflare_style_429_and_a_5xx_are_retried_too(fake, start_surface, clip):
    _surface, handler = await start_surface(**QUICK_RETRIES)
    before = retries("rate_limited")
    fake.rate_limit("followup", times=1, retry_after=0.1, via=False)  # discord.py raises at once
    fake.server_error("followup", times=1, status=502)  # discord.py waits 1 s and tries again
    await send_clip(fake, clip, "cf.mp4")
    await handler.wait_done()

    [(_message, _name, data)] = fake.files()
    assert data == clip.read_bytes()
    assert ("followup", "429") in fake.fault_hits and ("followup", "5xx") in fake.fault_hits
    assert retries("rate_limited") - before >= 1


async def test_a_global_429_on_a_late_channel_delivery_is_waited_out(fake, start_surface, clip, clock):
    async def late_job(event, work):
        path = await event.media[0].fetch(work)
        clock.now += 11  # the interaction token is gone: the video goes to the channel
        await event.reply.send_video(OutgoingVideo(path=path, width=320, height=240, duration=1.5, caption="🎵"))

    _surface, handler = await start_surface(late_job, token_lifetime=10, **QUICK_RETRIES)
    fake.rate_limit("channel_send", times=2, retry_after=0.1, global_=True)
    await send_clip(fake, clip, "late.mp4", size_limit=100 * MiB)
    await handler.wait_done()

    [(message, _name, data)] = fake.files()
    assert message.via == "channel" and data == clip.read_bytes()
    assert fake.fault_hits.count(("channel_send", "429")) == 2


async def test_an_edit_storm_during_progress_does_not_hold_up_the_video(fake, start_surface, clip):
    async def job(event, work):
        port = event.reply

        async def shown(call):  # as the core shows progress: a display glitch never fails the job
            try:
                await call
            except Exception:  # noqa: BLE001
                pass

        await shown(port.progress_start(Progress("📥 Getting your clip", 0)))
        path = await event.media[0].fetch(work)
        for pct in range(0, 101, 5):
            await shown(port.progress_update(Progress("🎬 Rendering the video", pct)))
        await port.send_video(OutgoingVideo(path=path, width=320, height=240, duration=1.5, caption="🎵 Done"))
        await shown(port.progress_finish(None))

    _surface, handler = await start_surface(job, progress_interval=0.05, **QUICK_RETRIES)
    fake.rate_limit("webhook_edit", times=12, retry_after=0.05)
    await send_clip(fake, clip, "storm.mp4")
    await handler.wait_done()

    [(message, _name, data)] = fake.files()
    assert data == clip.read_bytes() and message.content == "🎵 Done"
    # Edits are not retried by us: at most discord.py's own tries per edit, never a pile-up.
    edits = [c for c in fake.calls if c[0] == "PATCH" and "/webhooks/" in c[1]]
    assert len(edits) <= 12 + 21


# --- the whole product ---------------------------------------------------------------------------

@pytest.fixture
async def product(fake, tmp_path):
    pytest.importorskip("engine.pipeline", reason="the engine is not in the tree yet")
    from adapters.discord import DiscordConfig, DiscordSurface
    from backend.config import BackendConfig
    from backend.server import LocalBackend
    from core.app import Core, CoreConfig
    from core.nemo.auth import MemoryCredentials
    from core.nemo.client import NemoClient
    from core.store import Store

    backend = LocalBackend(BackendConfig(data_dir=tmp_path / "backend", test_mode=True))
    await backend.start()
    store = await Store(tmp_path / "aiwm.sqlite3").open()
    client = NemoClient(backend.url, credentials=MemoryCredentials(), render_poll_interval=0.05)
    core = Core(CoreConfig(data_dir=tmp_path / "data"), client, store)
    surface = DiscordSurface(None, config=DiscordConfig(
        token="fake-bot-token", api_url=fake.url, staging_dir=tmp_path / "staging", progress_interval=0.2,
        retry_attempts=3, **QUICK_RETRIES))
    core.add_surface(surface)
    surface.bind(core)
    await core.start()
    await surface.start()
    await until(lambda: surface.client.get_guild(p.GUILD_ID) is not None)
    try:
        yield core
    finally:
        await surface.stop()
        await core.stop()
        await client.close()
        await store.close()
        await backend.stop()


async def test_uploads_discord_keeps_dropping_end_in_one_plain_line_and_another_chat_gets_its_video(
        fake, product, clip):
    gave_up = say("platform_gave_up", "en")
    fake.drop_upload("followup", times=50, token="tok-refused")  # this interaction's uploads never land
    await send_clip(fake, clip, "a.mp4", token="tok-refused", guild=True)
    await send_clip(fake, clip, "b.mp4", token="tok-lucky", guild=False)

    def said(token: str) -> list[str]:
        return [m.content for m in fake.messages.values() if m.token == token and m.content]

    await until(lambda: gave_up in said("tok-refused") and fake.files(), timeout=180)
    [(message, _name, _data)] = fake.files()
    assert message.token == "tok-lucky"
    assert fake.fault_hits.count(("followup", "drop")) == 3  # retry_attempts, then the plain line
    assert said("tok-refused").count(gave_up) == 1
    assert await product.store.open_jobs() == []  # the refused job ended; nothing hangs in "sending"
