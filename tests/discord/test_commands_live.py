"""Real discord.py, real CommandTree, real gateway websocket and REST, against the fake on loopback."""

from __future__ import annotations

import av
import pytest

from tests.discord import payloads as p
from tests.discord.conftest import until
from tests.discord.fake_discord import APP_ID


def probe(data: bytes, tmp_path) -> tuple[bool, bool, float]:
    """(has video, has audio, duration s) of an uploaded file, read back with PyAV."""
    path = tmp_path / "uploaded.mp4"
    path.write_bytes(data)
    with av.open(str(path)) as container:
        has_video = any(s.type == "video" for s in container.streams)
        has_audio = any(s.type == "audio" for s in container.streams)
        frames = sum(1 for _ in container.decode(video=0))
        return has_video and frames > 0, has_audio, container.duration / 1e6


async def test_music_defers_shows_progress_and_uploads_playable_video(fake, start_surface, clip, tmp_path):
    surface, handler = await start_surface()
    att = p.attachment(fake.serve("clip.mp4", clip), size=clip.stat().st_size)
    payload = p.music(att, prompt="calm piano", size_limit=25 * 1024 * 1024)
    await fake.dispatch("INTERACTION_CREATE", payload)
    await handler.wait_done()

    event = handler.events[0]
    assert event.surface == "discord" and event.command == "music" and event.text == "calm piano"
    assert event.chat_id == str(p.CHANNEL_ID) and event.is_group and event.user_id == "777"
    # Deferred ("thinking") before the core saw anything.
    assert handler.callbacks_seen_at_handle == [1]
    assert fake.callbacks[0]["type"] == 5 and fake.callbacks[0]["token"] == payload["token"]
    # The real limit from the interaction reached the core.
    assert handler.limits_seen == [25 * 1024 * 1024]

    original = fake.original(payload["token"])
    shown = [e for e in original.edits if e]
    assert shown[0].startswith("📥 Getting your clip")
    assert any("Rendering the video · 100%" in e for e in shown)
    assert original.deleted  # the finished job clears its progress line

    uploads = fake.files()
    assert len(uploads) == 1
    message, name, data = uploads[0]
    assert message.via == "followup" and message.token == payload["token"]
    assert message.content.startswith("🎵 Here it is (calm piano)")
    assert name == "video-with-music.mp4"
    assert data == clip.read_bytes()
    plays, has_audio, duration = probe(data, tmp_path)
    assert plays and has_audio and duration == pytest.approx(1.5, abs=0.2)


@pytest.mark.parametrize("name", ["export", "status", "credits", "cancel", "new", "help"])
async def test_simple_commands_reach_the_core_and_answer_in_place(fake, start_surface, name):
    surface, handler = await start_surface()
    payload = p.slash(name, guild=False)
    await fake.dispatch("INTERACTION_CREATE", payload)
    await handler.wait_done()

    event = handler.events[0]
    assert event.command == name and event.media == [] and not event.is_group
    assert event.chat_id == str(p.DM_CHANNEL_ID)  # DMs get their own session too
    assert handler.callbacks_seen_at_handle == [1] and fake.callbacks[0]["type"] == 5
    assert fake.original(payload["token"]).content == f"handled {name}:"
    assert fake.by_via("followup") == [] and fake.by_via("channel") == []


async def test_commands_are_synced_to_test_guilds_with_a_video_filter(fake, start_surface):
    await start_surface(guild_ids=[111, 222])
    assert set(fake.synced) == {"111", "222"}
    commands = {c["name"]: c for c in fake.synced["111"]}
    assert set(commands) == {"music", "export", "status", "credits", "cancel", "new", "help", "Add music"}
    video = commands["music"]["options"][0]
    assert video["type"] == 11 and video["required"] and video["file_types"] == ["video"]
    assert commands["Add music"]["type"] == 3


async def test_commands_are_synced_globally_without_test_guilds(fake, start_surface):
    await start_surface()
    assert list(fake.synced) == ["global"]
    assert ("GET", "/api/v10/gateway/bot") in fake.calls  # the gateway came from the configured server
    assert fake.identify["intents"] & (1 << 15) == 0  # no privileged Message Content intent


async def test_add_music_menu_on_a_posted_video(fake, start_surface, clip):
    surface, handler = await start_surface()
    att = p.attachment(fake.serve("posted.mp4", clip), filename="posted.mp4", size=clip.stat().st_size)
    payload = p.add_music_menu(p.user_message("look at this", attachments=[att]))
    await fake.dispatch("INTERACTION_CREATE", payload)
    await handler.wait_done()

    event = handler.events[0]
    assert event.command == "music" and event.text == "" and len(event.media) == 1
    assert event.media[0].file_name == "posted.mp4" and event.media[0].looks_like_video
    assert handler.callbacks_seen_at_handle == [1]
    [(message, _name, data)] = fake.files()
    assert message.via == "followup" and data == clip.read_bytes()


async def test_add_music_menu_on_a_message_without_video_explains_privately(fake, start_surface):
    surface, handler = await start_surface()
    photo = p.attachment(fake.url + "/cdn/attachments/cat.png", filename="cat.png", content_type="image/png")
    await fake.dispatch("INTERACTION_CREATE", p.add_music_menu(p.user_message("cat", attachments=[photo])))
    await until(lambda: fake.callbacks)
    callback = fake.callbacks[0]
    assert callback["type"] == 4 and callback["data"]["flags"] & 64  # an ephemeral answer, at once
    assert callback["data"]["content"].startswith("Send me a video clip first")
    assert handler.events == []


@pytest.mark.parametrize("att_kwargs", [
    {"filename": "song.mp3", "content_type": "audio/mpeg"},
    {"filename": "trick.mp4", "content_type": "image/png"},  # the extension filter alone would pass it
    {"filename": "notes.txt", "content_type": None},
])
async def test_music_refuses_a_file_that_is_not_a_video(fake, start_surface, att_kwargs):
    surface, handler = await start_surface()
    att = p.attachment(fake.url + "/cdn/attachments/x", **att_kwargs)
    await fake.dispatch("INTERACTION_CREATE", p.music(att))
    await until(lambda: fake.callbacks)
    callback = fake.callbacks[0]
    assert callback["type"] == 4 and callback["data"]["flags"] & 64
    assert "isn't a video I can use" in callback["data"]["content"]
    assert handler.events == [] and not any(path.startswith("/cdn/") for _, path in fake.calls)


async def test_music_without_the_attachment_asks_for_a_clip_in_the_users_language(fake, start_surface):
    surface, handler = await start_surface()
    payload = p.music(None, locale="zh-CN")
    # A client that lost the attachment: the option names an id the payload doesn't resolve.
    payload["data"]["options"] = [{"name": "video", "type": 11, "value": "123"}]
    await fake.dispatch("INTERACTION_CREATE", payload)
    await until(lambda: fake.callbacks)
    assert fake.callbacks[0]["data"]["content"].startswith("请先发送一段视频")
    assert handler.events == []


async def test_mention_with_a_video_in_a_server_channel(fake, start_surface, clip):
    surface, handler = await start_surface()
    att = p.attachment(fake.serve("m.mp4", clip), filename="m.mp4", size=clip.stat().st_size)
    bot = {"id": str(APP_ID), "username": "aiwm", "discriminator": "0", "avatar": None, "bot": True}
    message = p.user_message(f"<@{APP_ID}> make it lo-fi", attachments=[att], mentions=[bot])
    await fake.dispatch("MESSAGE_CREATE", message)
    await handler.wait_done()

    event = handler.events[0]
    assert event.text == "make it lo-fi" and event.command is None and event.is_group
    assert event.chat_id == str(p.CHANNEL_ID) and event.message_id == message["id"]
    assert fake.callbacks == []  # no interaction: everything is a channel message
    status = next(m for m in fake.by_via("channel") if m.edits[0].startswith("📥"))
    assert status.reference == int(message["id"]) and status.deleted
    [(sent, name, data)] = fake.files()
    assert sent.via == "channel" and sent.channel_id == p.CHANNEL_ID and data == clip.read_bytes()
    assert sent.content.startswith("🎵 Here it is (make it lo-fi)")


async def test_messages_that_do_not_mention_the_bot_are_left_alone(fake, start_surface):
    surface, handler = await start_surface()
    await fake.dispatch("MESSAGE_CREATE", p.user_message("just chatting"))
    # A DM afterwards is for us; once it is handled, the earlier message has had its chance.
    await fake.dispatch("MESSAGE_CREATE", p.user_message("hello there", guild=False))
    await handler.wait_done()
    assert [e.text for e in handler.events] == ["hello there"]
    assert handler.events[0].chat_id == str(p.DM_CHANNEL_ID) and not handler.events[0].is_group


async def test_a_mentioned_non_video_is_passed_on_but_not_downloaded(fake, start_surface):
    async def nothing(event, work):
        return None

    surface, handler = await start_surface(nothing)
    photo = p.attachment(fake.url + "/cdn/attachments/cat.png", filename="cat.png", content_type="image/png")
    bot = {"id": str(APP_ID), "username": "aiwm", "discriminator": "0", "avatar": None, "bot": True}
    await fake.dispatch("MESSAGE_CREATE", p.user_message(f"<@{APP_ID}>", attachments=[photo], mentions=[bot]))
    await handler.wait_done()
    item = handler.events[0].media[0]
    assert item.kind == "document" and not item.looks_like_video
    assert not any(path.startswith("/cdn/") for _, path in fake.calls)
