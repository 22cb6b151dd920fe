"""An update python-telegram-bot can't parse must not stop the bot. Before the fix PTB failed the
whole getUpdates batch, the offset never moved, and every chat went unserved for good."""

from __future__ import annotations

import logging

import aiohttp

from tests.telegram.fake_bot_api import message, private_chat, user

# A message whose chat is not an object, and a poll without the fields PTB 22 requires.
BAD_CHAT = {"message": {"message_id": 900, "date": 1, "chat": "oops", "from": user(7)}}
BAD_POLL = {"message": {"message_id": 901, "date": 1, "chat": private_chat(7), "from": user(7),
                        "poll": {"id": "p1"}}}

HOOK = {"telegram_webhook_url": "https://bot.example.com/tg/hook", "telegram_webhook_port": 0,
        "telegram_webhook_secret": "s3cret-webhook-value"}


def _offsets(fake) -> list[int]:
    return [int(call.params.get("offset") or 0) for call in fake.of("getUpdates")]


async def test_unreadable_updates_are_skipped_and_polling_goes_on(fake, handler, running, caplog):
    caplog.set_level(logging.WARNING, logger="adapters.telegram")
    await running()
    bad_ids = [fake.inject_raw(BAD_CHAT), fake.inject_raw(BAD_POLL)]
    fake.inject(message(private_chat(43), user(43, name="Bob"), text="make it lo-fi"))
    await handler.wait_events(1)
    fake.inject(message(private_chat(44), user(44, name="Cy"), text="music at 20%"))
    events = await handler.wait_events(2)
    assert [(e.chat_id, e.text) for e in events] == [("43", "make it lo-fi"), ("44", "music at 20%")]
    skipped = [r.getMessage() for r in caplog.records if "skipped update" in r.getMessage()]
    assert any(str(bad_ids[0]) in line for line in skipped) and any(str(bad_ids[1]) in line for line in skipped)
    assert not any("oops" in line or "p1" in line for line in skipped)  # the id only, never the content


async def test_a_batch_of_only_unreadable_updates_is_still_confirmed(fake, handler, running):
    await running()
    bad_ids = [fake.inject_raw(BAD_POLL), fake.inject_raw(BAD_CHAT)]
    # Nothing readable came with them, yet the next poll must ask past them (which confirms them).
    await fake.wait_for(lambda f: max(_offsets(f), default=0) > max(bad_ids))
    fake.inject(message(private_chat(45), user(45, name="Di"), text="/help"))
    events = await handler.wait_events(1)
    assert [(e.chat_id, e.command) for e in events] == [("45", "help")]


async def test_webhook_answers_200_to_an_unreadable_update_and_goes_on(fake, handler, running):
    surface = await running(settings_values=HOOK)
    url = f"http://127.0.0.1:{surface.webhook_port}/tg/hook"
    headers = {"X-Telegram-Bot-Api-Secret-Token": "s3cret-webhook-value"}
    good = {"update_id": 3, "message": {"message_id": 5, "date": 0,
                                        **message(private_chat(46), user(46), text="/help")}}
    async with aiohttp.ClientSession() as http:
        for update_id, bad in ((1, BAD_CHAT), (2, BAD_POLL)):
            async with http.post(url, json={"update_id": update_id, **bad}, headers=headers) as resp:
                assert resp.status == 200  # or Telegram resends it again and again
        async with http.post(url, json=good, headers=headers) as resp:
            assert resp.status == 200
    events = await handler.wait_events(1)
    assert [(e.chat_id, e.command) for e in events] == [("46", "help")]
