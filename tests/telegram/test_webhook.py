"""Webhook mode: Telegram posts updates to us; only posts with the registered secret count."""

from __future__ import annotations

import aiohttp

from tests.telegram.fake_bot_api import message, private_chat, user

HOOK = {"telegram_webhook_url": "https://bot.example.com/tg/hook", "telegram_webhook_port": 0,
        "telegram_webhook_secret": "s3cret-webhook-value"}


async def test_webhook_mode_registers_and_receives_updates(fake, handler, running):
    surface = await running(settings_values=HOOK)
    registered = fake.of("setWebhook")[0].params
    assert registered["url"] == "https://bot.example.com/tg/hook"
    assert registered["secret_token"] == "s3cret-webhook-value"
    assert registered["allowed_updates"] == ["message"]

    update = {"update_id": 1, "message": {"message_id": 5, "date": 0, **message(private_chat(), user(),
                                                                                text="/help")}}
    url = f"http://127.0.0.1:{surface.webhook_port}/tg/hook"
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}) as resp:
            assert resp.status == 403
        async with http.post(url, json=update) as resp:
            assert resp.status == 403
        async with http.post(url, data=b"{not json", headers={
                "X-Telegram-Bot-Api-Secret-Token": "s3cret-webhook-value"}) as resp:
            assert resp.status == 400
        async with http.post(url, json=update, headers={
                "X-Telegram-Bot-Api-Secret-Token": "s3cret-webhook-value"}) as resp:
            assert resp.status == 200
    events = await handler.wait_events(1)
    assert len(events) == 1 and events[0].command == "help"
    await fake.wait_for(lambda f: f.of("sendMessage"))
    assert not fake.of("getUpdates")
