"""The work journal on a real SQLite store: replays dropped, cut-off work reported once per chat and
kind, work that became a job left to the job's resume, other surfaces' work kept."""

from __future__ import annotations

from pathlib import Path

from core.events import InboundEvent
from core.journal import WorkJournal
from core.store import RENDERING, Job, Store


class _Port:
    def delivery_target(self) -> dict:
        return {"chat_id": 7}


def _event(message_id: str, chat: str = "7", surface: str = "telegram") -> InboundEvent:
    return InboundEvent(surface=surface, chat_id=chat, user_id="7", reply=_Port(), message_id=message_id)


async def test_replayed_message_is_refused_and_cut_off_work_is_reported_once(tmp_path: Path):
    store = await Store(tmp_path / "bot.sqlite3").open()
    journal = WorkJournal(store)
    first = await journal.accept(_event("10"), "clip", "en")
    assert first is not None
    assert await journal.accept(_event("10"), "clip", "en") is None  # the same message again
    await journal.accept(_event("11"), "clip", "en")  # a second clip of the same chat
    await journal.accept(_event("12"), "turn", "zh")
    finished = await journal.accept(_event("13"), "turn", "en")
    await journal.finish([finished])
    await journal.accept(_event("20", surface="discord"), "clip", "en")
    linked = await journal.accept(_event("14"), "export", "en")
    job = Job(id="job1", chat_key="telegram:7", surface="telegram", chat_id="7", delivery={}, language="en",
              state=RENDERING)
    await store.add_job(job, work_ids=[linked])
    await store.close()

    store = await Store(tmp_path / "bot.sqlite3").open()  # a restart
    journal = WorkJournal(store)
    cut = await journal.cut_off({"telegram"})
    assert sorted((entry.chat_key, key, entry.language, entry.delivery["chat_id"]) for entry, key in cut) == [
        ("telegram:7", "restart_lost_clip", "en", 7), ("telegram:7", "restart_lost_message", "zh", 7)]
    assert await journal.cut_off({"telegram"}) == []  # cleared: said at most once
    assert [e.surface for e in await store.leftover_work()] == ["discord"]  # kept for a start that has it
    assert await journal.accept(_event("10"), "clip", "en") is None  # still known after the restart
    await store.close()
