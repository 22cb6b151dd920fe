"""Groups: only messages addressed to the bot reach the core; everything else is chatter."""

from __future__ import annotations

from tests.telegram.fake_bot_api import (BOT_ID, BOT_USERNAME, group_chat, message, user, video_field)

BOT = {"id": BOT_ID, "is_bot": True, "first_name": "AI With Music", "username": BOT_USERNAME}


async def _flush_with(fake, handler, text="/help"):
    """Send one addressed message last: once it is handled, everything before it was processed."""
    fake.inject(message(group_chat(), user(9), text=text))
    await handler.wait_events(1)
    events = list(handler.events)
    await fake.wait_for(lambda f: f.of("sendMessage"))
    return events


async def test_chatter_and_unaddressed_clips_are_ignored(fake, handler, running, clip):
    await running()
    stored = fake.add_file(clip)
    fake.inject(message(group_chat(), user(1), text="nice weather"))
    fake.inject(message(group_chat(), user(1), video=video_field(stored), caption="look at this"))
    fake.inject(message(group_chat(), user(1), text="/music@OtherBot calm"))
    fake.inject(message(group_chat(), user(1), text="hey @someone_else"))
    events = await _flush_with(fake, handler, f"/help@{BOT_USERNAME}")
    assert [(e.command, e.user_id) for e in events] == [("help", "9")]
    assert not fake.of("getFile") and not fake.file_downloads


async def test_command_as_reply_to_a_clip_uses_that_clip(fake, handler, running, clip):
    await running()
    stored = fake.add_file(clip)
    posted = message(group_chat(), user(1), video=video_field(stored))
    fake.inject(posted)
    fake.inject(message(group_chat(), user(2, language="en"), text=f"/music@{BOT_USERNAME} upbeat drums",
                        reply_to_message=posted))
    await fake.wait_for(lambda f: f.of("sendVideo"))
    event = handler.events[0]
    assert event.is_group and event.addressed_to_bot and event.chat_id == str(group_chat()["id"])
    assert (event.command, event.text, event.user_id) == ("music", "upbeat drums", "2")
    assert [m.kind for m in event.media] == ["video"]
    # In a group the answer replies to the asking message, so people see what it answers.
    sent = fake.of("sendVideo")[0]
    assert sent.params["reply_parameters"]["message_id"] == int(event.message_id)


async def test_mention_with_a_clip_is_addressed_and_the_mention_is_dropped(fake, handler, running, clip):
    await running()
    stored = fake.add_file(clip)
    fake.inject(message(group_chat(), user(3), video=video_field(stored),
                        caption=f"@{BOT_USERNAME} make it lo-fi"))
    await fake.wait_for(lambda f: f.of("sendVideo"))
    assert handler.events[0].text == "make it lo-fi"
    assert handler.events[0].media[0].kind == "video"


async def test_reply_to_the_bot_is_addressed_and_keeps_its_video_out(fake, handler, running):
    await running()
    bot_video = message(group_chat(), BOT, video={"file_id": "OUTX", "file_unique_id": "outx", "width": 320,
                                                   "height": 240, "duration": 2})
    fake.inject(bot_video)  # the bot's own message: never an event
    fake.inject(message(group_chat(), user(4), text="music at 20%", reply_to_message=bot_video))
    events = await handler.wait_events(1)
    assert events[0].text == "music at 20%" and events[0].media == []
    await fake.wait_for(lambda f: f.of("sendMessage"))
    assert len(handler.events) == 1


async def test_bare_mention_gets_help(fake, handler, running):
    await running()
    fake.inject(message(group_chat(), user(5), text=f"@{BOT_USERNAME}"))
    events = await handler.wait_events(1)
    assert events[0].command == "help"


async def test_mention_after_emoji_is_found_by_utf16_offsets(fake, handler, running):
    await running()
    fake.inject(message(group_chat(), user(6), text=f"🎉 @{BOT_USERNAME}x not us"))
    fake.inject(message(group_chat(), user(6), text=f"🎉🎶 @{BOT_USERNAME} status please"))
    events = await handler.wait_events(1)
    await fake.wait_for(lambda f: f.of("sendMessage"))
    assert [e.text for e in handler.events] == ["🎉🎶 status please"]
