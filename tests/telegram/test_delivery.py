"""Sending back: flood control, long texts, resuming a delivery after a restart, local mode."""

from __future__ import annotations

import asyncio

from adapters.telegram import TelegramConfig, TelegramReplyPort
from core.ports import OutgoingVideo, Progress, delivery_target
from tests.telegram.fake_bot_api import TOKEN, message, private_chat, user, video_field
from tests.telegram.recording_handler import probe


async def test_retry_after_is_waited_out_and_the_message_arrives(fake, handler, running):
    await running()
    fake.fail_once("sendMessage", 429, retry_after=1)
    fake.inject(message(private_chat(), user(), text="/help"))
    await fake.wait_for(lambda f: len(f.of("sendMessage")) == 2)
    first, second = fake.of("sendMessage")
    assert first.params["text"] == second.params["text"] and "How to use me" in second.params["text"]
    delivered = [m for (chat, _), m in fake.messages.items() if chat == 42 and m.get("from", {}).get("is_bot")]
    assert len(delivered) == 1  # one message in the chat, not two


async def test_retry_after_on_send_video_resends_the_whole_file(fake, handler, running, clip):
    await running()
    fake.fail_once("sendVideo", 429, retry_after=1)
    fake.inject(message(private_chat(), user(), video=video_field(fake.add_file(clip))))
    await fake.wait_for(lambda f: len(f.of("sendVideo")) == 2 and f.of("deleteMessage"))
    assert fake.of("sendVideo")[1].files["video"][2].read_bytes() == clip.read_bytes()


async def test_long_text_is_split_and_long_caption_follows_the_video(fake, running, tmp_path, clip):
    surface = await running()
    port = surface.reply_port_for("42", {"chat_id": 42})
    await port.send_text("\n".join(f"line {n} " + "x" * 90 for n in range(100)))
    texts = [c.params["text"] for c in fake.of("sendMessage")]
    assert len(texts) == 3 and all(len(t) <= 4096 for t in texts)
    assert texts[0].startswith("line 0 ") and texts[-1].endswith("x" * 90) and "line 99" in texts[-1]
    await port.send_video(OutgoingVideo(path=clip, width=320, height=240, duration=2.0, caption="c" * 1500))
    video = fake.of("sendVideo")[0]
    assert "caption" not in video.params
    assert fake.of("sendMessage")[-1].params["text"] == "c" * 1500


async def test_delivery_resumes_through_a_rebuilt_port(fake, running, tmp_path, clip):
    """After a restart the core rebuilds the port from what it stored and the video still lands
    in the right chat, in the right topic, as a reply to the asking message."""
    first = await running()
    original = TelegramReplyPort(first.bot, -100500, first.config, is_group=True, reply_to=77, thread_id=5)
    stored = delivery_target(original)
    await first.stop()

    second = await running()
    port = second.reply_port_for("-100500", stored)
    await port.send_video(OutgoingVideo(path=clip, width=320, height=240, duration=2.0, caption="here"))
    call = fake.of("sendVideo")[0]
    assert int(call.params["chat_id"]) == -100500 and int(call.params["message_thread_id"]) == 5
    assert call.params["reply_parameters"]["message_id"] == 77
    assert call.files["video"][2].read_bytes() == clip.read_bytes()


async def test_throttled_edits_still_end_on_the_latest_words(fake, running):
    surface = await running(edit_interval=0.5)
    port = surface.reply_port_for("42", {"chat_id": 42})
    await port.progress_start(Progress("🎬 Rendering", 0.0))
    for percent in range(10, 100, 10):
        await port.progress_update(Progress("🎬 Rendering", float(percent)))
    await fake.wait_for(lambda f: f.of("editMessageText") and "90%" in f.of("editMessageText")[-1].params["text"])
    assert len(fake.of("editMessageText")) < 9, "edits were not throttled"
    await port.progress_finish("✅ Done")
    status_id = int(fake.of("editMessageText")[-1].params["message_id"])
    assert fake.messages[(42, status_id)]["text"] == "✅ Done"
    assert len(fake.of("sendMessage")) == 1


async def test_limits_public_and_local(fake, running):
    public = await running()
    limits = public.reply_port_for("1", {"chat_id": 1}).limits()
    assert limits.max_upload_bytes == 50 * 1024 * 1024 and limits.can_edit_messages
    local = TelegramConfig(token=TOKEN, local_mode=True)
    assert local.upload_limit == 2000 * 1024 * 1024 and local.download_limit is None
    capped = TelegramConfig(token=TOKEN, max_upload_bytes=10_000_000, max_download_bytes=5_000_000)
    assert capped.upload_limit == 10_000_000 and capped.download_limit == 5_000_000


async def test_local_mode_fetches_big_clips_and_uploads_by_path(fake, handler, running, clip):
    """A self-hosted Bot API server: no 20 MB cap, files by absolute path, uploads as file://."""
    fake.local_mode = True
    await running(settings_values={"telegram_local_mode": True})
    stored = fake.add_file(clip)
    fake.inject(message(private_chat(), user(), video={**video_field(stored), "file_size": 60 * 1024 * 1024}))
    await fake.wait_for(lambda f: f.of("sendVideo"))
    assert handler.events[0].media[0].max_fetch_bytes is None
    assert not fake.file_downloads  # read from the server's disk, not over HTTP
    call = fake.of("sendVideo")[0]
    assert call.params["video"].startswith("file://")
    info = probe(call.files["video"][2])
    assert info is not None and call.files["video"][2].read_bytes() == clip.read_bytes()


async def test_one_chats_long_job_does_not_delay_another(fake, handler, running, clip):
    await running()
    handler.hold = asyncio.Event()  # chat 1's job stays "rendering"
    fake.inject(message(private_chat(1), user(1), video=video_field(fake.add_file(clip))))
    await fake.wait_for(lambda f: f.of("editMessageText"))
    fake.inject(message(private_chat(2), user(2), text="/help"))
    await fake.wait_for(lambda f: any(int(c.params["chat_id"]) == 2 for c in f.of("sendMessage")))
    assert not fake.of("sendVideo")
    # While the job runs, "sending video…" is refreshed (it fades after 5 s on Telegram).
    await fake.wait_for(lambda f: len([c for c in f.of("sendChatAction") if int(c.params["chat_id"]) == 1]) >= 2)
    handler.hold.set()
    await fake.wait_for(lambda f: f.of("sendVideo"))


async def test_port_rebuilt_before_start_waits_for_the_bot(fake, handler, tmp_path, clip):
    """The core resumes deliveries in its start(), possibly before the surface has connected."""
    from adapters.telegram import TelegramSurface
    from tests.telegram.conftest import FAST, settings_for

    surface = TelegramSurface.from_settings(settings_for(fake), **FAST)
    port = surface.reply_port_for("42", {"chat_id": 42})
    sending = asyncio.create_task(port.send_video(OutgoingVideo(path=clip, width=320, height=240, duration=2.0)))
    await asyncio.sleep(0)
    surface.bind(handler)
    await surface.start()
    try:
        await asyncio.wait_for(sending, 20)
        assert fake.of("sendVideo")[0].files["video"][2].read_bytes() == clip.read_bytes()
    finally:
        await surface.stop()
