"""DiscordSurface.stop_receiving() (the first step of a SIGTERM): running work still delivers, and
whatever arrives meanwhile is answered at once with "I'm restarting, try again in a minute"
(an interaction can't wait for the next start: Discord wants an answer within 3 seconds)."""

from __future__ import annotations

import asyncio

import pytest

from core.i18n import say
from tests.discord import payloads as p
from tests.discord.conftest import echo_script, until
from tests.discord.fake_discord import APP_ID

BOT = {"id": str(APP_ID), "username": "aiwm", "discriminator": "0", "avatar": None, "bot": True}


def turned_away(fake, token: str) -> dict:
    callback = next(c for c in fake.callbacks if c["token"] == token)
    assert callback["type"] == 4 and callback["data"]["flags"] & 64  # an ephemeral answer, not "thinking"
    return callback


async def test_running_work_delivers_while_new_requests_are_turned_away(fake, start_surface, clip):
    release = asyncio.Event()

    async def held_script(event, work):
        await release.wait()  # the render is still running when the stop comes
        await echo_script(event, work)

    surface, handler = await start_surface(held_script)
    running = p.music(p.attachment(fake.serve("a.mp4", clip), size=clip.stat().st_size), prompt="calm")
    await fake.dispatch("INTERACTION_CREATE", running)
    await until(lambda: handler.events)

    await surface.stop_receiving()
    cdn_before = [path for _, path in fake.calls if path.startswith("/cdn/")]
    late_music = p.music(p.attachment(fake.serve("b.mp4", clip), filename="b.mp4", size=clip.stat().st_size))
    late_status = p.slash("status", guild=False, locale="zh-CN")
    late_menu = p.add_music_menu(p.user_message("look", attachments=[
        p.attachment(fake.serve("c.mp4", clip), filename="c.mp4", size=clip.stat().st_size)]))
    for payload in (late_music, late_status, late_menu):
        await fake.dispatch("INTERACTION_CREATE", payload)
    mention = p.user_message(f"<@{APP_ID}> make it lo-fi", mentions=[BOT])
    await fake.dispatch("MESSAGE_CREATE", mention)
    await until(lambda: len(fake.callbacks) == 4 and fake.by_via("channel"))

    assert turned_away(fake, late_music["token"])["data"]["content"] == say("restarting_try_later", "en")
    assert turned_away(fake, late_status["token"])["data"]["content"] == say("restarting_try_later", "zh")
    assert turned_away(fake, late_menu["token"])["data"]["content"] == say("restarting_try_later", "en")
    [reply] = fake.by_via("channel")
    assert reply.content == say("restarting_try_later", "en") and reply.reference == int(mention["id"])
    assert len(handler.events) == 1  # none of them reached the core
    assert [path for _, path in fake.calls if path.startswith("/cdn/")] == cdn_before  # nor was downloaded

    release.set()  # the running render finishes during the grace: its video still goes out
    await handler.wait_done()
    [(sent, _name, data)] = fake.files()
    assert sent.via == "followup" and sent.token == running["token"] and data == clip.read_bytes()
    assert sent.content.startswith("🎵 Here it is (calm)")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_restart_line_exists_in_both_languages(lang):
    text = say("restarting_try_later", lang)
    assert text and text != "restarting_try_later" and "{" not in text
