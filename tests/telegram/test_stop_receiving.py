"""TelegramSurface.stop_receiving() (the first step of a SIGTERM): no new updates are taken, what
was taken reaches the handler (albums still gathering included), and sending goes on."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.telegram.fake_bot_api import message, private_chat, user, video_field
from tests.telegram.recording_handler import RecordingHandler
from tests.telegram.test_webhook import HOOK


async def test_message_after_stop_receiving_waits_at_telegram_for_the_next_start(fake, handler, running, tmp_path):
    surface = await running()
    fake.inject(message(private_chat(7), user(7), text="/help"))
    await handler.wait_events(1)
    await surface.stop_receiving()
    fake.inject(message(private_chat(7), user(7), text="/status"))  # sent while the bot is stopping
    await surface.stop()
    assert [e.command for e in handler.events] == ["help"]

    after_restart = RecordingHandler(tmp_path / "work2")
    await running(after_restart)
    events = await after_restart.wait_events(1)
    fake.inject(message(private_chat(7), user(7), text="/start"))
    events = await after_restart.wait_events(2)
    # /status came again (it was never confirmed); /help, confirmed before the stop, did not.
    assert [e.command for e in events] == ["status", "start"]


async def test_album_still_gathering_is_handed_on_whole_at_stop(fake, handler, running, clip, silent_clip, tmp_path):
    # Far longer than the test: without the stop the album would still be gathering.
    surface = await running(settings_values={"telegram_album_wait": 60.0}, album_max_wait=120.0)
    for path in (clip, silent_clip):
        fake.inject(message(private_chat(8), user(8), video=video_field(fake.add_file(path)),
                            media_group_id="holiday", caption="calm" if path == clip else None))
    fake.inject(message(private_chat(8), user(8), text="/help"))  # fetched in the same batch, after the album
    await handler.wait_events(1)
    assert not any(e.media for e in handler.events)

    await surface.stop_receiving()
    events = await handler.wait_events(2)
    album = next(e for e in events if e.media)
    assert len(album.media) == 2 and album.text == "calm"
    assert [m.size_bytes for m in album.media] == [clip.stat().st_size, silent_clip.stat().st_size]
    await surface.stop()

    # Its parts were confirmed: the next start does not get them again.
    after_restart = RecordingHandler(tmp_path / "work2")
    await running(after_restart)
    fake.inject(message(private_chat(8), user(8), text="/status"))
    events = await after_restart.wait_events(1)
    assert [(e.command, len(e.media)) for e in events] == [("status", 0)]


async def test_running_work_still_delivers_after_stop_receiving(fake, handler, running, clip):
    surface = await running()
    handler.hold = asyncio.Event()  # the job stops half-way until released
    fake.inject(message(private_chat(9), user(9), video=video_field(fake.add_file(clip))))
    await handler.wait_events(1)
    while not handler.fetched:  # the clip is downloaded; the job now waits half-way
        await asyncio.sleep(0.05)

    await surface.stop_receiving(settle=0.1)
    handler.hold.set()
    await fake.wait_for(lambda f: f.answered("sendVideo"))
    video = fake.answered("sendVideo")[0]
    assert int(video.params["chat_id"]) == 9
    await surface.stop()


async def test_webhook_closes_at_stop_receiving_and_what_it_took_is_handled(fake, handler, running):
    surface = await running(settings_values=HOOK)
    url = f"http://127.0.0.1:{surface.webhook_port}/tg/hook"
    headers = {"X-Telegram-Bot-Api-Secret-Token": HOOK["telegram_webhook_secret"]}
    update = {"update_id": 1, "message": {"message_id": 5, "date": 0,
                                          **message(private_chat(4), user(4), text="/help")}}
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json=update, headers=headers) as resp:
            assert resp.status == 200
        await surface.stop_receiving()
        assert [e.command for e in handler.events] == ["help"]  # taken before the stop: handled
        await fake.wait_for(lambda f: f.of("sendMessage"))  # and answered, while stopping
        update["update_id"] = 2
        with pytest.raises(aiohttp.ClientConnectionError):  # Telegram retries it after the restart
            async with http.post(url, json=update, headers=headers):
                pass
    await surface.stop()
    assert len(handler.events) == 1
