"""The work journal: work a chat handed us is written down until it ends, however it ends.

A clip being fetched or uploaded, a turn at the agent, queued items: all of that lives only in
memory, so a killed process would lose it without a word. Each accepted item gets a journal entry
(in the store, same SQLite file); the entry is removed when the item ends. Whatever is left at the
next start was cut off: its chat gets one plain line saying what to send again. A turn is never
re-run by itself (a second POST /run_sse charges again).

An entry whose item got as far as an export job is linked to that job, and the job's own resume
path (render still running on the backend -> deliver; upload cut off -> say so) owns it from then
on, so one clip never gets both a video and a "send it again".

The same write marks the message (chat, message id) as handled, so a platform update delivered a
second time after a crash (Telegram confirms updates only on the next getUpdates) is dropped.
"""

from __future__ import annotations

import logging
import time
import uuid
from contextvars import ContextVar

from core.events import InboundEvent
from core.ports import delivery_target
from core.store import Store, WorkEntry

log = logging.getLogger(__name__)

# Kinds of journaled work.
CLIP = "clip"  # clips with the one-shot flow (download, upload, turn, export)
UPLOAD = "upload"  # clips added to the session only
TURN = "turn"  # a message for the agent
EXPORT = "export"  # a render of the current draft
COMMAND = "command"  # a small command (/status, /credits, /new) queued behind other work

# What the chat is told when an item of that kind was cut off (keys in core/i18n.py).
LOST_MESSAGE = {CLIP: "restart_lost_clip", UPLOAD: "restart_lost_clip", TURN: "restart_lost_message",
                EXPORT: "restart_lost_export", COMMAND: "restart_lost_message"}

HANDLED_MESSAGES_KEPT = 2 * 24 * 3600  # Telegram keeps an unconfirmed update for 24 hours

# The journal entries of the work item running in this task (a merged album has several);
# Conversation links them to the export job it creates (Store.add_job(job, work_ids)).
CURRENT_WORK: ContextVar[tuple[str, ...]] = ContextVar("aiwm_current_work", default=())


class WorkJournal:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def accept(self, event: InboundEvent, kind: str, lang: str) -> str | None:
        """Write an entry for accepted work; None when this message was handled before (a replay)."""
        entry = WorkEntry(
            id=uuid.uuid4().hex, chat_key=event.chat_key, surface=event.surface, chat_id=event.chat_id,
            delivery=delivery_target(event.reply), language=lang, kind=kind, message_id=event.message_id,
        )
        return entry.id if await self.store.add_work(entry) else None

    async def finish(self, work_ids: list[str]) -> None:
        await self.store.finish_work(work_ids)

    async def finish_chat(self, chat_key: str) -> None:
        """/cancel: everything of the chat is stopped or dropped, so nothing is left to report."""
        await self.store.finish_chat_work(chat_key)

    async def cut_off(self, running_surfaces: set[str]) -> list[tuple[WorkEntry, str]]:
        """Entries left by a stopped process, one per chat and kind, with the i18n key to say.

        Entries linked to an existing job are cleared (the job resume reports on them); entries of
        a surface that is not running now are kept for a start that has it. Everything returned
        is already cleared, so the notice goes out at most once.
        """
        await self.store.forget_handled_messages(time.time() - HANDLED_MESSAGES_KEPT)
        notices: dict[tuple[str, str], tuple[WorkEntry, str]] = {}
        done: list[str] = []
        for entry in await self.store.leftover_work():
            if entry.job_id and await self.store.job(entry.job_id) is not None:
                done.append(entry.id)
                continue
            if entry.surface not in running_surfaces:
                log.warning("work cut off on %s is kept: that surface is not running", entry.surface)
                continue
            key = LOST_MESSAGE.get(entry.kind, "restart_lost_message")
            notices.setdefault((entry.chat_key, key), (entry, key))
            done.append(entry.id)
        await self.store.finish_work(done)
        return list(notices.values())
