"""Delivery paths through real discord.py against the fake: late work, dead tokens, size, restarts."""

from __future__ import annotations

import asyncio

from core.ports import OutgoingVideo, Progress, delivery_target
from tests.discord import payloads as p
from tests.discord.conftest import until
from tests.discord.fake_discord import GUILD_PREMIUM_TIER

MiB = 1024 * 1024


async def test_work_longer_than_the_token_lands_as_a_channel_message(fake, start_surface, clip, clock):
    async def slow_job(event, work):
        port = event.reply
        await port.progress_start(Progress("🎬 Rendering the video", 10))
        path = await event.media[0].fetch(work)
        clock.now += 11  # past the (shrunk) token lifetime
        limits.append(port.limits().max_upload_bytes)
        await port.progress_update(Progress("🎬 Rendering the video", 90))
        await port.send_video(OutgoingVideo(path=path, width=320, height=240, duration=1.5, caption="🎵 Done"))
        await port.progress_finish(None)

    limits: list[int] = []
    surface, handler = await start_surface(slow_job, token_lifetime=10)
    att = p.attachment(fake.serve("late.mp4", clip), size=clip.stat().st_size)
    payload = p.music(att, size_limit=100 * MiB)
    await fake.dispatch("INTERACTION_CREATE", payload)
    await handler.wait_done()

    # Only what the token could still do went through the webhook: the first progress line.
    original = fake.original(payload["token"])
    assert [e for e in original.edits if e] == ["🎬 Rendering the video · 10%\n▰▱▱▱▱▱▱▱▱▱"]
    assert fake.by_via("followup") == []
    # Later progress and the video went to the channel, addressed to the user.
    [(message, _name, data)] = fake.files()
    assert message.via == "channel" and message.channel_id == p.CHANNEL_ID
    assert message.content == "<@777> 🎵 Done" and data == clip.read_bytes()
    assert message.allowed_mentions["parse"] == ["users"]  # pings the user, never @everyone or roles
    status = next(m for m in fake.by_via("channel") if m is not message)
    assert status.edits[0].startswith("<@777> 🎬 Rendering the video · 90%") and status.deleted
    # A channel upload is bounded by the server's boost level, not the interaction's Nitro-wide limit.
    assert limits == [50 * MiB] and GUILD_PREMIUM_TIER == 2


async def test_a_token_that_dies_early_falls_back_to_the_channel(fake, start_surface, clip):
    async def job(event, work):
        path = await event.media[0].fetch(work)
        fake.dead_tokens.add(event.reply.delivery.token)  # Discord says 401 Invalid Webhook Token
        await event.reply.send_video(OutgoingVideo(path=path, width=320, height=240, duration=1.5, caption="🎵 ok"))

    surface, handler = await start_surface(job)
    att = p.attachment(fake.serve("early.mp4", clip), size=clip.stat().st_size)
    await fake.dispatch("INTERACTION_CREATE", p.music(att))
    await handler.wait_done()
    [(message, _name, data)] = fake.files()
    assert message.via == "channel" and data == clip.read_bytes()
    token = fake.callbacks[0]["token"]
    assert ("PATCH", f"/api/v10/webhooks/424242/{token}/messages/@original") in fake.calls  # webhook first
    assert message.content == "<@777> 🎵 ok"


async def test_an_upload_the_platform_rejects_as_too_large_becomes_a_friendly_line(fake, start_surface, clip):
    fake.upload_limit = 1000  # the server refuses what the interaction claimed was fine
    surface, handler = await start_surface()
    att = p.attachment(fake.serve("big.mp4", clip), size=clip.stat().st_size)
    await fake.dispatch("INTERACTION_CREATE", p.music(att))
    await handler.wait_done()
    assert fake.files() == []
    texts = [m.content or "" for m in fake.messages.values()]
    assert any("over this chat's" in t and "limit" in t for t in texts)


async def test_progress_edits_are_throttled_and_the_final_state_shows(fake, start_surface, clip):
    async def chatty(event, work):
        port = event.reply
        await port.progress_start(Progress("🎬 Rendering the video", 0))
        for pct in range(1, 51):
            await port.progress_update(Progress("🎬 Rendering the video", pct * 2))
        await until(lambda: any("100%" in (e or "") for e in fake.original(event.reply.delivery.token).edits))
        await port.progress_finish("✅ Rendered")

    surface, handler = await start_surface(chatty, progress_interval=0.3)
    payload = p.music(p.attachment(fake.serve("t.mp4", clip), size=clip.stat().st_size))
    await fake.dispatch("INTERACTION_CREATE", payload)
    await handler.wait_done()
    edits = [e for e in fake.original(payload["token"]).edits if e]
    assert edits[0].startswith("🎬 Rendering the video · 0%")
    assert len(edits) < 10  # 50 updates, a handful of edits
    assert any(e.startswith("🎬 Rendering the video · 100%") for e in edits)  # the last state was shown
    assert edits[-1] == "✅ Rendered"


async def test_a_port_rebuilt_after_a_restart_delivers_through_the_stored_token(fake, start_surface, clip, clock):
    async def start_job(event, work):
        await event.reply.progress_start(Progress("🎬 Rendering the video", 40))
        saved.append((event.chat_id, delivery_target(event.reply)))

    saved: list[tuple[str, dict]] = []
    surface, handler = await start_surface(start_job)
    payload = p.music(p.attachment(fake.serve("r.mp4", clip), size=clip.stat().st_size), size_limit=30 * MiB)
    await fake.dispatch("INTERACTION_CREATE", payload)
    await handler.wait_done()
    await surface.stop()

    # A new process: a fresh surface rebuilds the port from what the job store kept.
    surface2, _ = await start_surface()
    chat_id, delivery = saved[0]
    port = surface2.reply_port_for(chat_id, delivery)
    assert port.limits().max_upload_bytes == 30 * MiB
    await port.progress_update(Progress("🎬 Rendering the video", 90))
    await port.send_video(OutgoingVideo(path=clip, width=320, height=240, duration=1.5, caption="🎵 Back"))
    await port.progress_finish(None)

    original = fake.original(payload["token"])
    assert original.edits[-1].startswith("🎬 Rendering the video · 90%") and original.deleted
    [(message, _name, data)] = fake.files()
    assert message.via == "followup" and message.token == payload["token"] and data == clip.read_bytes()

    # Past the token's life, the same stored delivery goes to the channel instead.
    clock.now += 16 * 60
    late = surface2.reply_port_for(chat_id, delivery)
    await late.send_text("still here")
    assert fake.by_via("channel")[-1].content == "<@777> still here"


async def test_the_clip_is_downloaded_at_once_so_an_expired_link_does_not_matter(fake, start_surface, clip):
    async def slow_to_fetch(event, work):
        await until(lambda: ("GET", "/cdn/attachments/expiring.mp4") in fake.calls)
        await asyncio.sleep(0.2)  # let the download finish writing
        fake.cdn.clear()  # the signed URL has expired
        path = await event.media[0].fetch(work)
        fetched.append(path.read_bytes())

    fetched: list[bytes] = []
    surface, handler = await start_surface(slow_to_fetch)
    await fake.dispatch("INTERACTION_CREATE", p.music(p.attachment(fake.serve("expiring.mp4", clip),
                                                                   size=clip.stat().st_size)))
    await handler.wait_done()
    assert fetched == [clip.read_bytes()]
    assert list(surface.prefetcher.staging_dir.iterdir()) == []  # moved out, nothing left behind


async def test_resumed_ports_and_early_requests_wait_for_the_bot_to_be_up(fake, tmp_path, clip):
    from adapters.discord import DiscordConfig, DiscordSurface
    from tests.discord.conftest import RecordingHandler

    config = DiscordConfig(token="fake-bot-token", api_url=fake.url, staging_dir=tmp_path / "staging",
                           progress_interval=0.0)
    surface = DiscordSurface(None, config=config)  # the core binds later, as in `aiwm run`
    # The core resumes a job before the surface has logged in: the port waits instead of failing.
    port = surface.reply_port_for(str(p.CHANNEL_ID), {"user_id": 777})
    early = asyncio.create_task(port.send_text("your video from before the restart"))
    try:
        await surface.start()
        await asyncio.wait_for(early, 15)
        assert fake.by_via("channel")[0].content == "your video from before the restart"

        await until(lambda: fake.identified.is_set())
        await until(lambda: surface.client.get_guild(p.GUILD_ID) is not None)
        await fake.dispatch("INTERACTION_CREATE", p.slash("status"))
        await until(lambda: fake.callbacks)  # deferred at once, even with no core yet
        handler = RecordingHandler(fake, tmp_path / "work")
        surface.bind(handler)
        await handler.wait_done()
        assert handler.events[0].command == "status"
    finally:
        await surface.stop()
