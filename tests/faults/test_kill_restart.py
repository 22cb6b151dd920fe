"""SIGKILL at every stage of a clip's way, then a restart on the same data folder: each clip the
bot accepted is delivered exactly once, or the chat is told plainly, once, what to send again.
A turn is never re-run by itself (the backend sees each POST /run_sse once)."""

from __future__ import annotations

import asyncio
import random

import pytest

from tests.faults.botproc import Rig, until

RENDERS = "/api/render/proxy/lambda"
UPLOADS = "/api/upload-video/"
RESTART_NOTICES = ("restart_lost_clip", "restart_lost_message", "restart_lost_export", "resend_after_restart")


def notices(rig: Rig, chat: int) -> dict[str, int]:
    return {key: rig.said(chat, key) for key in RESTART_NOTICES if rig.said(chat, key)}


async def test_kill_during_the_clip_upload(rig, tiny_clip):
    chat = 101
    bot = await rig.start_bot()
    rig.send_text(chat, "hello")  # a first turn gives the chat its backend session
    await rig.settle(chat)
    session_id = (await rig.requests("POST", "/run_sse"))[0]["session_id"]
    # Hold the upload open: the backend answers it 429 "retry in 60 s", the bot waits inside it.
    await rig.set_faults({"rate_limit": {"times": 1, "retry_after": 60}}, session_id=session_id)
    rig.send_clip(chat, tiny_clip, caption="calm piano")
    await rig.wait_requests("POST", UPLOADS, 1)
    await bot.kill()
    await rig.clear_faults()

    await rig.start_bot()
    await rig.wait_chat(lambda: rig.said(chat, "restart_lost_clip"))
    await rig.settle(chat)
    assert notices(rig, chat) == {"restart_lost_clip": 1}
    assert rig.upload_attempts(chat) == []
    assert len(await rig.requests("POST", UPLOADS)) == 1  # not uploaded again behind the user's back
    assert len(await rig.requests("POST", "/run_sse")) == 1  # only the "hello" turn


@pytest.mark.parametrize("what", ["clip", "text"])
async def test_kill_during_a_turn(rig, tiny_clip, what):
    chat = 102
    bot = await rig.start_bot()
    await rig.set_faults({"turn_delay": 60})
    if what == "clip":
        rig.send_clip(chat, tiny_clip, caption="lo-fi please")
    else:
        rig.send_text(chat, "make it lo-fi")
    await rig.wait_requests("POST", "/run_sse", 1)
    await bot.kill()
    await rig.clear_faults()

    await rig.start_bot()
    expected = "restart_lost_clip" if what == "clip" else "restart_lost_message"
    await rig.wait_chat(lambda: rig.said(chat, expected))
    await rig.settle(chat)
    assert notices(rig, chat) == {expected: 1}
    assert rig.upload_attempts(chat) == []
    assert len(await rig.requests("POST", "/run_sse")) == 1  # the turn was charged once, never re-run


async def test_kill_during_render_polling_twenty_times(rig, tiny_clip):
    """20 kills at seeded moments while the backend renders; each export ends exactly once."""
    chat = 103
    rng = random.Random(8)
    bot = await rig.start_bot()
    rig.send_clip(chat, tiny_clip)
    await rig.wait_chat(lambda: len(rig.videos(chat)) == 1)
    await rig.settle(chat)
    await rig.set_faults({"render_delay": 1.0})
    outcomes = []
    for round_no in range(20):
        renders = len(await rig.requests("POST", RENDERS))
        videos, told = len(rig.videos(chat)), sum(notices(rig, chat).values())
        rig.send_text(chat, "/export")
        await rig.wait_requests("POST", RENDERS, renders + 1)
        await asyncio.sleep(rng.uniform(0.0, 1.2))  # somewhere in the polling window
        await bot.kill()
        bot = await rig.start_bot()
        await rig.wait_chat(lambda: len(rig.videos(chat)) > videos or sum(notices(rig, chat).values()) > told)
        outcomes.append("video" if len(rig.videos(chat)) > videos else "told")
    await rig.settle(chat)
    await asyncio.sleep(1.5)  # a late duplicate would have come by now (the render delay is 1 s)
    await rig.settle(chat)
    # Each of the 20 exports ended once: a video, or (killed before the render id was saved) a notice.
    assert len(rig.videos(chat)) - 1 + sum(notices(rig, chat).values()) == 20, (outcomes, notices(rig, chat))
    assert set(notices(rig, chat)) <= {"restart_lost_export"}
    assert outcomes.count("video") >= 10, outcomes  # the kill mostly lands while polling: resumed
    assert len(await rig.requests("POST", RENDERS)) == 21  # resumed renders were never started again
    assert len(await rig.requests("POST", "/run_sse")) == 1


async def test_kill_during_the_upload_to_the_chat(rig, tiny_clip):
    chat = 104
    bot = await rig.start_bot()
    rig.fake.hold_videos = True  # Telegram takes the upload and never answers
    rig.send_clip(chat, tiny_clip)
    await rig.wait_chat(lambda: rig.upload_attempts(chat))
    await bot.kill()
    rig.fake.hold_videos = False

    await rig.start_bot()
    await rig.wait_chat(lambda: rig.said(chat, "resend_after_restart"))
    await rig.settle(chat)
    # It may or may not have arrived: never sent a second time, the chat is told what to do, once.
    assert notices(rig, chat) == {"resend_after_restart": 1}
    assert len(rig.upload_attempts(chat)) == 1 and rig.videos(chat) == []
    assert len(await rig.requests("POST", "/run_sse")) == 1


async def test_updates_fetched_again_after_a_kill_are_not_worked_twice(rig, tiny_clip):
    """Telegram sends an update again when the bot died before confirming it: a delivered clip
    must not come back as a second video, a cut-off turn must not run a second time."""
    rig.fake.forget_confirmations = True
    bot = await rig.start_bot()
    rig.send_clip(105, tiny_clip)
    await rig.wait_chat(lambda: len(rig.videos(105)) == 1)
    await rig.settle(105)
    await rig.set_faults({"turn_delay": 60})
    rig.send_text(106, "make it lo-fi")
    await rig.wait_requests("POST", "/run_sse", 2)
    await bot.kill()
    await rig.clear_faults()

    polls = len(rig.fake.of("getUpdates"))
    await rig.start_bot()
    await until(lambda: len(rig.fake.of("getUpdates")) > polls + 1)  # the replayed batch was taken
    await rig.wait_chat(lambda: rig.said(106, "restart_lost_message"))
    await rig.settle(105)
    await rig.settle(106)
    assert len(rig.videos(105)) == 1 and notices(rig, 105) == {}
    assert notices(rig, 106) == {"restart_lost_message": 1}
    assert len(await rig.requests("POST", "/run_sse")) == 2  # one per message, none replayed
