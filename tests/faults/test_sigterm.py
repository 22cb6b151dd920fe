"""SIGTERM/SIGINT: stop taking messages, finish or keep what runs, exit 0; nothing is lost or doubled."""

from __future__ import annotations

import signal

from tests.faults.botproc import WAIT

CHAT = 301


async def test_sigterm_while_idle_exits_cleanly(rig):
    bot = await rig.start_bot()
    bot.terminate()
    assert await bot.exit_code(timeout=WAIT) == 0, bot.log_tail()


async def test_sigint_while_idle_exits_cleanly(rig):
    bot = await rig.start_bot()
    bot.proc.send_signal(signal.SIGINT)
    assert await bot.exit_code(timeout=WAIT) == 0, bot.log_tail()


async def test_sigterm_mid_render_keeps_it_and_delivers_once_after_restart(rig, tiny_clip):
    """The render outlasts the grace: it is kept, resumed after the restart, delivered once; a
    message sent while the bot was stopping waits at Telegram and is answered after the restart."""
    bot = await rig.start_bot(AIWM_STOP_GRACE="1")
    await rig.set_faults({"render_delay": 4})
    rig.send_clip(CHAT, tiny_clip)
    await rig.wait_requests("POST", "/api/render/proxy/lambda", 1)
    bot.terminate()
    rig.send_text(CHAT, "/credits")  # arrives while stopping
    assert await bot.exit_code(timeout=WAIT) == 0, bot.log_tail()
    await rig.clear_faults()
    assert not rig.videos(CHAT)  # the render was still running at the backend

    await rig.start_bot()
    await rig.wait_chat(lambda: rig.videos(CHAT))
    await rig.settle(CHAT)
    assert len(rig.videos(CHAT)) == 1
    assert len(await rig.requests("POST", "/run_sse")) == 1
    assert len(await rig.requests("POST", "/api/render/proxy/lambda")) == 1  # resumed, not rendered again
    # /credits either waited at Telegram and was answered after the restart, or the stopping bot had
    # already taken it (queued behind the render) and the chat is asked to send it again: once.
    answered = [t for t in rig.texts(CHAT) if t.startswith("💳")]
    assert len(answered) + rig.said(CHAT, "restart_lost_message") == 1, rig.texts(CHAT)
    assert rig.said(CHAT, "restart_lost_clip") == 0


async def test_sigterm_mid_render_with_time_left_finishes_before_exit(rig, tiny_clip):
    bot = await rig.start_bot(AIWM_STOP_GRACE="60")
    await rig.set_faults({"render_delay": 1})
    rig.send_clip(CHAT, tiny_clip)
    await rig.wait_requests("POST", "/api/render/proxy/lambda", 1)
    bot.terminate()
    assert await bot.exit_code(timeout=WAIT) == 0, bot.log_tail()
    assert len(rig.videos(CHAT)) == 1  # finished inside the grace period, before the exit

    await rig.start_bot()
    await rig.settle(CHAT)
    assert len(rig.videos(CHAT)) == 1
    assert not any("restarted" in t for t in rig.texts(CHAT))
