"""Bad input gets one clear line, and the bot keeps serving."""

from __future__ import annotations

import pytest

from tests.telegram.fake_bot_api import document_field, message, private_chat, user, video_field

MB = 1024 * 1024


def _texts(fake):
    return [c.params["text"] for c in fake.of("sendMessage")] + [c.params["text"] for c in fake.of("editMessageText")]


@pytest.mark.parametrize("kind, content, word", [
    ("document", lambda s: {"document": document_field(s, "application/pdf", "report.pdf")}, "file"),
    ("sticker", lambda s: {"sticker": {"file_id": s.file_id, "file_unique_id": s.unique_id, "type": "regular",
                                        "width": 512, "height": 512, "is_animated": False, "is_video": False,
                                        "file_size": s.size}}, "sticker"),
    ("voice", lambda s: {"voice": {"file_id": s.file_id, "file_unique_id": s.unique_id, "duration": 3,
                                    "mime_type": "audio/ogg", "file_size": s.size}}, "voice note"),
    ("photo", lambda s: {"photo": [{"file_id": s.file_id, "file_unique_id": s.unique_id, "width": 90,
                                     "height": 90, "file_size": s.size}]}, "photo"),
    ("audio", lambda s: {"audio": {"file_id": s.file_id, "file_unique_id": s.unique_id, "duration": 3,
                                    "mime_type": "audio/mpeg", "file_name": "song.mp3", "file_size": s.size}},
     "audio file"),
])
async def test_non_video_media_is_refused_without_downloading(fake, handler, running, tmp_path, kind, content, word):
    await running()
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"%PDF-1.4 not a video")
    stored = fake.add_file(junk)
    fake.inject(message(private_chat(), user(), **content(stored)))
    await fake.wait_for(lambda f: f.of("sendMessage"))
    assert handler.events[0].media[0].kind == kind
    assert f"That {word} isn't a video" in _texts(fake)[0]
    assert not fake.of("getFile")


async def test_clip_over_the_download_cap_is_refused_before_download(fake, handler, running):
    await running()
    stored = fake.add_file(None, size=60 * MB)
    fake.inject(message(private_chat(), user(), video=video_field(stored)))
    await fake.wait_for(lambda f: f.of("sendMessage"))
    text = _texts(fake)[0]
    assert "60 MB" in text and "20 MB" in text
    assert not fake.of("getFile") and not fake.file_downloads


async def test_refused_download_is_explained(fake, handler, running, clip):
    """Telegram's own 'file is too big' (the size was not in the update) becomes a friendly line."""
    await running()
    stored = fake.add_file(clip)
    fake.inject(message(private_chat(), user(), video={k: v for k, v in video_field(stored).items()
                                                          if k != "file_size"}))
    stored.size = 30 * MB  # what the server knows, the update did not say
    await fake.wait_for(lambda f: f.of("getFile") and (f.of("editMessageText") or f.of("deleteMessage")))
    await fake.wait_for(lambda f: any("couldn't download" in t for t in _texts(f)))
    assert any("doesn't let bots download files this big" in t for t in _texts(fake))
    assert not any(fake.token in t for t in _texts(fake))


async def test_broken_video_is_explained_and_the_next_clip_still_works(fake, handler, running, tmp_path, clip):
    await running()
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(clip.read_bytes()[:300])
    fake.inject(message(private_chat(), user(), video=video_field(fake.add_file(broken))))
    await fake.wait_for(lambda f: any("couldn't read that video" in t for t in _texts(f)))
    fake.inject(message(private_chat(), user(), video=video_field(fake.add_file(clip))))
    await fake.wait_for(lambda f: f.of("sendVideo"))


async def test_message_without_a_clip_gets_a_hint(fake, handler, running):
    await running()
    fake.inject(message(private_chat(), user(), text="add some music please"))
    await fake.wait_for(lambda f: f.of("sendMessage"))
    assert "Send me a video clip first" in _texts(fake)[0]


class _Exploding:
    def __init__(self, inner):
        self.inner = inner

    async def handle(self, event):
        if event.text == "boom":
            raise RuntimeError("core bug")
        await self.inner.handle(event)


async def test_a_failing_handler_gets_a_friendly_line_and_the_bot_keeps_serving(fake, handler, running):
    await running(_Exploding(handler))
    fake.inject(message(private_chat(), user(), text="boom"))
    await fake.wait_for(lambda f: any("Something went wrong" in t for t in _texts(f)))
    fake.inject(message(private_chat(), user(), text="/help"))
    await fake.wait_for(lambda f: any("How to use me" in t for t in _texts(f)))


async def test_a_flood_of_messages_is_all_answered(fake, handler, running):
    await running()
    for n in range(40):
        fake.inject(message(private_chat(1000 + n % 4), user(1000 + n % 4), text=f"hello {n}"))
    await handler.wait_events(40)
    await fake.wait_for(lambda f: len(f.of("sendMessage")) >= 40, timeout=60)
