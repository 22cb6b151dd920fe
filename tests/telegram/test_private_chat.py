"""A private chat through the real PTB Application and a fake Bot API on loopback."""

from __future__ import annotations

import asyncio

from tests.telegram.fake_bot_api import BOT_ID, message, private_chat, user, video_field
from tests.telegram.recording_handler import probe


def _streams(path):
    info = probe(path)
    assert info is not None, "the uploaded file is not a playable video"
    return info, {s["codec_type"]: s for s in info["streams"]}


async def test_video_comes_back_as_a_playable_video_with_metadata(fake, handler, running, clip):
    await running()
    stored = fake.add_file(clip)
    fake.inject(message(private_chat(), user(language="en"), caption="calm piano",
                        video=video_field(stored, duration=2)))

    await fake.wait_for(lambda f: f.of("sendVideo"))
    await fake.wait_for(lambda f: f.of("deleteMessage"))

    event = handler.events[0]
    assert event.surface == "telegram" and event.chat_id == "42" and event.user_id == "42"
    assert event.text == "calm piano" and event.language == "en" and not event.is_group
    assert [m.kind for m in event.media] == ["video"]
    item = event.media[0]
    assert (item.width, item.height, item.duration, item.size_bytes) == (320, 240, 2.0, clip.stat().st_size)
    assert item.max_fetch_bytes == 20 * 1024 * 1024
    # Fetched lazily through getFile and the file URL, byte for byte.
    assert fake.file_downloads and handler.fetched[0].read_bytes() == clip.read_bytes()

    call = fake.of("sendVideo")[0]
    assert call.params["supports_streaming"] is True
    assert (call.params["width"], call.params["height"], call.params["duration"]) == (320, 240, 2)
    uploaded = call.files["video"][2]
    info, streams = _streams(uploaded)
    assert (streams["video"]["width"], streams["video"]["height"]) == (320, 240)
    assert "audio" in streams
    assert abs(float(info["format"]["duration"]) - 2.0) < 0.2
    thumb = fake.thumbnail_of(call)
    assert thumb is not None and thumb.read_bytes()[:2] == b"\xff\xd8"  # a JPEG
    assert call.params["caption"].startswith("🎵")


async def test_progress_is_one_status_message_edited_in_place(fake, handler, running, clip):
    await running()
    handler.hold = asyncio.Event()  # keep the job at "rendering" until the edit is seen
    stored = fake.add_file(clip)
    fake.inject(message(private_chat(), user(), video=video_field(stored)))
    await fake.wait_for(lambda f: f.of("editMessageText"))
    handler.hold.set()
    await fake.wait_for(lambda f: f.of("deleteMessage"))

    status = fake.of("sendMessage")
    assert len(status) == 1, "progress must not post new messages"
    status_id = status[0].params and fake.of("deleteMessage")[0].params["message_id"]
    edits = fake.of("editMessageText")
    assert edits and {int(e.params["message_id"]) for e in edits} == {int(status_id)}
    assert any("%" in e.params["text"] for e in edits)
    # Identical words are never re-sent as an edit.
    texts = [status[0].params["text"]] + [e.params["text"] for e in edits]
    assert all(a != b for a, b in zip(texts, texts[1:]))
    assert fake.of("sendChatAction")[0].params["action"] == "upload_video"
    assert (42, int(status_id)) in fake.deleted


async def test_silent_animation_is_accepted_as_a_clip(fake, handler, running, silent_clip):
    await running()
    stored = fake.add_file(silent_clip)
    fake.inject(message(private_chat(), user(), animation=video_field(stored, 240, 240, 1, name="x.mp4")))
    await fake.wait_for(lambda f: f.of("sendVideo"))
    assert handler.events[0].media[0].kind == "animation"
    _, streams = _streams(fake.of("sendVideo")[0].files["video"][2])
    assert "audio" not in streams and streams["video"]["width"] == 240


async def test_video_note_and_video_document_are_clips(fake, handler, running, clip, silent_clip):
    await running()
    note = fake.add_file(silent_clip)
    fake.inject(message(private_chat(), user(), video_note={
        "file_id": note.file_id, "file_unique_id": note.unique_id, "length": 240, "duration": 1,
        "file_size": note.size}))
    doc = fake.add_file(clip)
    fake.inject(message(private_chat(), user(), document={
        "file_id": doc.file_id, "file_unique_id": doc.unique_id, "file_name": "holiday.MOV",
        "mime_type": "application/octet-stream", "file_size": doc.size}))
    await fake.wait_for(lambda f: len(f.of("sendVideo")) == 2)
    kinds = sorted(e.media[0].kind for e in handler.events)
    assert kinds == ["document", "video_note"]
    note_item = next(e.media[0] for e in handler.events if e.media[0].kind == "video_note")
    assert (note_item.width, note_item.height) == (240, 240)
    doc_path = next(p for p in handler.fetched if p.name.endswith(".mov"))
    assert doc_path.read_bytes() == clip.read_bytes()


async def test_chinese_user_gets_chinese_replies(fake, handler, running):
    await running()
    fake.inject(message(private_chat(7), user(7, language="zh-hans"), text="你好"))
    await fake.wait_for(lambda f: f.of("sendMessage"))
    assert handler.events[0].language == "zh-hans"
    assert "请先发送一段视频" in fake.of("sendMessage")[0].params["text"]


async def test_commands_reach_the_core_parsed(fake, handler, running):
    await running()
    for text in ("/start", "/help", "/export 1080p", "/status", "/credits", "/cancel", "/new", "/music calm"):
        fake.inject(message(private_chat(), user(), text=text))
    events = await handler.wait_events(8)
    got = sorted((e.command, e.text) for e in events)
    assert got == sorted([("start", ""), ("help", ""), ("export", "1080p"), ("status", ""), ("credits", ""),
                          ("cancel", ""), ("new", ""), ("music", "calm")])
    await fake.wait_for(lambda f: any("Send me a video clip" in c.params.get("text", "") for c in f.of("sendMessage")))


async def test_command_menu_registered_at_start(fake, running):
    await running()
    menus = fake.of("setMyCommands")
    names = [c["command"] for c in menus[0].params["commands"]]
    assert {"start", "help", "music", "export", "status", "credits", "cancel", "new"} <= set(names)
    assert any(c.params.get("language_code") == "zh" for c in menus)
    assert fake.of("getMe") and not fake.of("setWebhook")
