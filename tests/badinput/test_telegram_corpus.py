"""Every corpus case through the real Telegram surface, the real core and the real local backend.

In every case a second, healthy chat sends a real clip at the same time and must get its video:
no bad input may crash the bot or hold up another chat.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from core.i18n import say
from tests.badinput.conftest import files_under
from tests.badinput.corpus import CASES, Case, Kit
from tests.badinput.harness import WAIT, Outbox, fresh_id, says
from tests.telegram.fake_bot_api import message, private_chat, user, video_field

pytestmark = pytest.mark.asyncio(loop_scope="module")

# The bot may write only in its data folder (and the backend in its own); the fake keeps uploads.
_ALLOWED = ("bot", "backend", "fake", "bot.sqlite3", "bot.sqlite3-wal", "bot.sqlite3-shm", "bot.sqlite3-journal")


def _answered(case: Case, out: Outbox) -> bool:
    e = case.expect
    if e.videos:
        return len(out.videos) >= e.videos
    if e.key:
        return any(says(t, e.key, case.language, **e.known) for t in out.final_texts)
    if e.free_text:
        return bool(out.final_texts)
    return True  # silence: checked once the healthy chat is served


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_bad_input_gets_a_clear_answer_and_the_bot_keeps_serving(product, media, case: Case):
    fake = product.fake
    before = files_under(product.root, _ALLOWED)
    downloads_before = len(fake.file_downloads)
    kit = Kit(product, media, group=case.group, language=case.language)
    if case.group:
        kit.chat_id = -kit.chat_id
    built = case.build(kit)
    if built is not None:
        await built
    sentinel_from = None
    if case.sentinel:
        sentinel_from = user(abs(kit.chat_id) + 11)
        fake.inject(message(kit.chat(), sentinel_from, text="/help",
                            entities=[{"type": "bot_command", "offset": 0, "length": 5}]))

    healthy_chat = fresh_id()
    fake.inject(message(private_chat(healthy_chat), user(healthy_chat),
                        video=video_field(fake.add_file(media.get("healthy.mp4")), width=64, height=48, duration=1)))
    out, healthy = Outbox(fake, kit.chat_id), Outbox(fake, healthy_chat)
    sentinel_done = (lambda: say("help", "en") in out.final_texts) if case.sentinel else (lambda: True)
    try:
        await fake.wait_for(lambda f: healthy.videos and _answered(case, out) and sentinel_done(), timeout=WAIT)
    except TimeoutError:
        pytest.fail(f"no expected answer: case chat got {out.texts}, videos {len(out.videos)}; "
                    f"healthy chat got {healthy.texts}, videos {len(healthy.videos)}")

    e = case.expect
    # No case ever ends in the catch-all error line, in its chat or the healthy one.
    assert not [t for t in out.texts + healthy.texts if t == say("generic_error", case.language)]
    assert len(healthy.videos) == 1
    if e.silent:
        expected = [say("help", "en")] if case.sentinel else []
        assert out.final_texts == expected, out.texts
        assert not out.videos
        assert not fake.of("answerInlineQuery") and not fake.of("answerCallbackQuery")
    else:
        assert len(out.final_texts) <= e.max_answers, out.final_texts
        assert len(out.videos) == e.videos, "a clip was rendered more often than asked"
    if e.key:
        answer = next(t for t in out.final_texts if says(t, e.key, case.language, **e.known))
        if e.contains:
            assert e.contains in answer
    if e.downloaded is not None and kit.stored:
        paths = {s.file_path for s in kit.stored}
        got = bool(paths & set(fake.file_downloads[downloads_before:]))
        assert got is e.downloaded, "downloaded" if got else "not downloaded"
    # Nothing landed outside the data folders (file names with path parts included).
    assert files_under(product.root, _ALLOWED) == before
    assert not Path("/etc/passwd.mp4").exists()
