"""A burst: one chat sends 50 messages at once while another chat sends a real clip.

Through the real Telegram surface (PTB against the fake Bot API), the real core with the operator
defaults `aiwm run` uses, and the real local backend. The bot must not crash, must still serve
the other chat, and must answer the burst politely and boundedly: the rate limit refuses the
excess and says so once per wait, never once per refused message.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import aiohttp
import pytest

from core.i18n import say
from core.metrics import MESSAGES, REFUSALS
from tests.badinput.harness import WAIT, Outbox, fresh_id, says
from tests.telegram.fake_bot_api import message, private_chat, user, video_field

pytestmark = pytest.mark.asyncio(loop_scope="module")

_TEXTS = ["make it lo-fi", "music at 20%", "asdfgh", "🎵🎵🎵", "louder!!!", "¿y ahora?", "make it epic",
          "…", "no music", "qwertyuiop zxcv"]


def _burst(fake, chat_id: int, clip) -> list[str]:
    """Queue 50 messages in one chat: per block of ten, a clip, eight texts and a /status."""
    kinds: list[str] = []
    chat, sender = private_chat(chat_id), user(chat_id)
    for block in range(5):
        fake.inject(message(chat, sender, video=video_field(fake.add_file(clip), width=64, height=48, duration=1)))
        kinds.append("clip")
        for i in range(8):
            fake.inject(message(chat, sender, text=_TEXTS[(block * 8 + i) % len(_TEXTS)]))
            kinds.append("text")
        fake.inject(message(chat, sender, text="/status"))
        kinds.append("status")
    return kinds


def _count(counter, **labels) -> float:
    return counter.labels(**labels)._value.get()


async def _settle(product, out: Outbox) -> None:
    """Run until every queued item is done and the chat has stopped hearing from the bot."""
    while True:
        assert await product.core.drain(WAIT), "the burst chat's work never finished"
        seen = len(out._calls("sendMessage", "editMessageText", "sendVideo"))
        await asyncio.sleep(1.0)  # give a handler that was mid-await the chance to queue more
        if len(out._calls("sendMessage", "editMessageText", "sendVideo")) == seen and product.core.lanes.busy(
                f"telegram:{out.chat_id}") is False:
            return


async def test_a_burst_of_fifty_is_answered_politely_and_does_not_block_another_chat(product, media):
    fake, policy = product.fake, product.core.policy
    rate = policy.config.rate_per_minute
    per_user = policy.config.max_jobs_per_user
    assert rate is not None and rate < 50, "the operator default rate limit must be on for this test"
    handled_before = _count(MESSAGES, surface="telegram")
    refused_rate_before = _count(REFUSALS, reason="rate")
    refused_jobs_before = _count(REFUSALS, reason="user_jobs")
    requests_before = len(await _backend_requests(product))

    burst_chat, healthy_chat = fresh_id(), fresh_id()
    clip = media.get("healthy.mp4")
    kinds = _burst(fake, burst_chat, clip)
    fake.inject(message(private_chat(healthy_chat), user(healthy_chat),
                        video=video_field(fake.add_file(clip), width=64, height=48, duration=1)))
    out, healthy = Outbox(fake, burst_chat), Outbox(fake, healthy_chat)

    try:
        await fake.wait_for(lambda f: healthy.videos and _count(MESSAGES, surface="telegram") >= handled_before + 51,
                            timeout=WAIT)
    except TimeoutError:
        pytest.fail(f"healthy chat got {healthy.texts} and {len(healthy.videos)} videos; "
                    f"{_count(MESSAGES, surface='telegram') - handled_before} of 51 messages handled")
    await _settle(product, out)

    # Still alive, and the other chat got its one video without any error.
    assert len(healthy.videos) == 1
    # Not held up behind the burst: its video came before the burst chat's work was all answered.
    burst_calls = [i for i, c in enumerate(fake.calls) if str(c.params.get("chat_id")) == str(burst_chat)]
    assert fake.calls.index(healthy.videos[0]) < burst_calls[-1]
    generic = say("generic_error", "en")
    assert generic not in out.texts + healthy.texts

    # The rate limit refused the excess: exactly the messages beyond `rate` (all 50 count as work).
    refused_rate = _count(REFUSALS, reason="rate") - refused_rate_before
    refused_jobs = _count(REFUSALS, reason="user_jobs") - refused_jobs_before
    assert refused_rate == len(kinds) - rate
    admitted = len(kinds) - refused_rate - refused_jobs
    # ...and said so once for the whole wait (a minute), not once per refused message.
    slow = [t for t in out.texts if says(t, "policy_slow_down", "en")]
    assert len(slow) == 1, slow
    # The per-user cap on clips in flight may refuse a clip among the admitted ones, once each.
    jobs = [t for t in out.texts if says(t, "policy_user_jobs", "en")]
    assert len(jobs) == refused_jobs
    assert refused_jobs <= max(0, kinds[:rate].count("clip") - (per_user or len(kinds)))

    # Every admitted message got exactly one answer (besides progress and "queued" lines).
    polite = {say("queued", "en")}
    answers = [t for t in out.final_texts if t not in polite and not says(t, "policy_slow_down", "en")
               and not says(t, "policy_user_jobs", "en")]
    assert len(answers) == admitted, answers
    clips_admitted = kinds[:rate].count("clip") - refused_jobs
    assert len(out.videos) == clips_admitted, "each admitted clip is rendered exactly once"
    # Bounded: an admitted message costs at most three sends ("queued" while the chat is busy,
    # one progress line, its answer) plus the video for a clip; the refusals add one line for the
    # whole wait and one per clip over the cap. With rate 20 and 2 clips that is <= 3*20 + 2 + 1 = 63
    # sends for 50 messages, and refused messages (30 here) cost nothing beyond that one line.
    sends = out.sent_messages + len(out.videos)
    bound = 3 * admitted + clips_admitted + 1 + refused_jobs
    assert sends <= bound, (sends, bound, out.texts)
    assert len([t for t in out.texts if t in polite]) <= admitted - 1

    # The backend saw each turn once: no more chat turns than admitted messages in both chats,
    # no more uploads than admitted clips, and nothing POSTed twice for one message by retries.
    log = (await _backend_requests(product))[requests_before:]
    turns = sum(1 for r in log if r["method"] == "POST" and r["path"] == "/run_sse")
    uploads = sum(1 for r in log if r["method"] == "POST" and r["path"].startswith("/api/upload-video/"))
    assert turns <= admitted + 1, turns
    assert uploads == clips_admitted + 1, uploads  # the burst's admitted clips and the other chat's one
    renders = Counter(r["session_id"] for r in log if r["method"] == "POST" and r["path"] == "/api/render/proxy/lambda")
    assert sum(renders.values()) == len(out.videos) + len(healthy.videos), renders


async def _backend_requests(product) -> list[dict]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{product.backend.url}/_test/requests") as resp:
            assert resp.status == 200
            return (await resp.json())["requests"]
