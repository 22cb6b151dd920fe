"""SIGTERM to the real `aiwm run` while an album is still gathering: the surface's stop_receiving()
hands it to the core whole, the grace lets it finish, and the chat gets one video before the exit."""

from __future__ import annotations

from core.i18n import say
from tests.faults.botproc import WAIT, until
from tests.telegram.fake_bot_api import message, private_chat, user, video_field

CHAT = 311


async def test_sigterm_with_an_album_still_gathering_delivers_it_whole_before_exit(rig, tiny_clip):
    # Without the stop the album would wait a minute for more parts.
    bot = await rig.start_bot(AIWM_STOP_GRACE="90", TELEGRAM_ALBUM_WAIT="60")
    last = 0
    for n in range(2):
        last = rig.fake.inject(message(private_chat(CHAT), user(CHAT), caption="calm piano" if n == 0 else None,
                                       media_group_id="trip",
                                       video=video_field(rig.fake.add_file(tiny_clip), width=160, height=120,
                                                         duration=1)))
    # The bot has both parts once it asks for updates after them.
    await until(lambda: any(int(c.params.get("offset") or 0) > last for c in rig.fake.of("getUpdates")))
    assert not rig.texts(CHAT)  # still gathering: nothing said yet

    bot.terminate()
    assert await bot.exit_code(timeout=WAIT) == 0, bot.log_tail()
    assert len(rig.videos(CHAT)) == 1, rig.texts(CHAT)  # both clips, one video, before the exit
    assert rig.texts(CHAT).count(say("album_merged", "en", count=2)) == 1
    assert rig.said(CHAT, "restart_lost_clip") == 0
