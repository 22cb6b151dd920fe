"""Albums: several clips sent together become ONE event with every clip, in order."""

from __future__ import annotations

from tests.telegram.fake_bot_api import BOT_USERNAME, group_chat, message, private_chat, user, video_field


def _album(fake, chat, sender, clips, group_id, caption=None):
    parts = []
    for n, path in enumerate(clips):
        stored = fake.add_file(path)
        parts.append(message(chat, sender, video=video_field(stored), media_group_id=group_id,
                             caption=caption if n == 0 else None))
    return parts


async def test_album_becomes_one_event_with_all_clips(fake, handler, running, clip, silent_clip):
    await running()
    parts = _album(fake, private_chat(), user(), [clip, silent_clip, clip], "album-1", caption="one video please")
    for part in parts:
        fake.inject(part)
    fake.inject(message(private_chat(), user(), text="/status"))  # after the album, a separate event
    await handler.wait_events(2)
    await fake.wait_for(lambda f: f.of("sendVideo"))
    album = next(e for e in handler.events if e.media)
    assert len(album.media) == 3 and album.text == "one video please"
    assert album.message_id == str(parts[0]["message_id"])
    assert [m.size_bytes for m in album.media] == [clip.stat().st_size, silent_clip.stat().st_size,
                                                    clip.stat().st_size]
    assert sum(1 for e in handler.events if e.media) == 1
    assert len(handler.fetched) == 3


async def test_two_albums_in_two_chats_stay_apart(fake, handler, running, clip):
    await running()
    for part in _album(fake, private_chat(1), user(1), [clip, clip], "a") + \
            _album(fake, private_chat(2), user(2), [clip], "b"):
        fake.inject(part)
    events = await handler.wait_events(2)
    sizes = sorted((e.chat_id, len(e.media)) for e in events)
    assert sizes == [("1", 2), ("2", 1)]


async def test_group_album_is_addressed_by_its_caption(fake, handler, running, clip):
    await running()
    for part in _album(fake, group_chat(), user(5), [clip, clip], "g1", caption=f"@{BOT_USERNAME} calm"):
        fake.inject(part)
    for part in _album(fake, group_chat(), user(6), [clip, clip], "g2", caption="holiday pics"):
        fake.inject(part)
    fake.inject(message(group_chat(), user(7), text=f"/help@{BOT_USERNAME}"))
    await handler.wait_events(2)
    await fake.wait_for(lambda f: f.of("sendVideo"))
    album_events = [e for e in handler.events if e.media]
    assert len(album_events) == 1
    assert album_events[0].user_id == "5" and album_events[0].text == "calm" and len(album_events[0].media) == 2
