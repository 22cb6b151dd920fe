"""Albums: N clips sent together arrive as N messages sharing a media_group_id, with no count and
no end marker. Parts are gathered until the album has been quiet for `wait` seconds (or `max_wait`
after its first part) and handed on as one draft with every part's media, in message order.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field, replace
from typing import Awaitable, Callable

from adapters.telegram.inbound import Draft


@dataclass
class _Pending:
    first_at: float
    last_at: float
    parts: list[Draft] = field(default_factory=list)
    task: asyncio.Task | None = None


class AlbumCollector:
    def __init__(self, deliver: Callable[[Draft], Awaitable[None]], *, wait: float = 1.0,
                 max_wait: float = 10.0) -> None:
        self._deliver = deliver
        self._wait = wait
        self._max_wait = max(max_wait, wait)
        self._pending: dict[tuple[int, str], _Pending] = {}

    def add(self, draft: Draft) -> None:
        assert draft.album_id is not None
        key = (draft.chat_id, draft.album_id)
        now = time.monotonic()
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = _Pending(first_at=now, last_at=now)
            pending.task = asyncio.create_task(self._deliver_when_quiet(key), name="telegram-album")
        pending.last_at = now
        pending.parts.append(draft)

    async def flush(self) -> None:
        """Deliver every album still gathering (used on shutdown, so no clip is dropped)."""
        for key in list(self._pending):
            pending = self._pending.pop(key)
            if pending.task is not None:
                pending.task.cancel()
            await self._deliver(merge(pending.parts))

    async def _deliver_when_quiet(self, key: tuple[int, str]) -> None:
        while True:
            pending = self._pending.get(key)
            if pending is None:
                return
            deadline = min(pending.last_at + self._wait, pending.first_at + self._max_wait)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            await asyncio.sleep(remaining)
        pending = self._pending.pop(key)
        await self._deliver(merge(pending.parts))


def merge(parts: list[Draft]) -> Draft:
    """One draft for the whole album: the caption (Telegram puts it on one part) is the text."""
    parts = sorted(parts, key=lambda d: d.message_id)
    first = parts[0]
    captioned = next((p for p in parts if p.text or p.command), first)
    return replace(
        first,
        addressed=any(p.addressed for p in parts),
        text=captioned.text,
        command=captioned.command,
        media=[item for p in parts for item in p.media],
    )
