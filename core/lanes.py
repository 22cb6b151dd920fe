"""Per-chat lanes: work in one chat runs one item at a time, in arrival order; chats never wait
for each other.

A lane is a queue and a worker task that exists only while the chat has work. `cancel` stops the
running item (its task gets CancelledError, so an open SSE stream or render poll really ends)
and drops what was waiting. A burst of clip-only items that queued up behind each other is
merged into one item, so an album sent as separate messages becomes one upload step.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from core.metrics import ACTIVE_CHATS

log = logging.getLogger(__name__)


@dataclass
class WorkItem:
    run: Callable[["WorkItem"], Awaitable[None]]
    merge_key: str | None = None  # items with the same key waiting back to back are merged
    payload: list = field(default_factory=list)  # merged payloads (e.g. media items)
    on_cancel: Callable[[], Awaitable[None]] | None = None


class _Lane:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[WorkItem] = asyncio.Queue()
        self.worker: asyncio.Task | None = None
        self.current: asyncio.Task | None = None


class Lanes:
    def __init__(self, *, item_timeout: float | None = None,
                 on_timeout: Callable[[WorkItem], Awaitable[None]] | None = None) -> None:
        self._lanes: dict[str, _Lane] = {}
        self._item_timeout = item_timeout
        self._on_timeout = on_timeout
        self._closed = False

    def busy(self, key: str) -> bool:
        lane = self._lanes.get(key)
        return bool(lane and (lane.current is not None or not lane.queue.empty()))

    def waiting(self, key: str) -> int:
        lane = self._lanes.get(key)
        return lane.queue.qsize() if lane else 0

    def submit(self, key: str, item: WorkItem) -> None:
        if self._closed:
            raise RuntimeError("lanes are closed")
        lane = self._lanes.setdefault(key, _Lane())
        ACTIVE_CHATS.set(len(self._lanes))  # a lane exists exactly while its chat has work
        lane.queue.put_nowait(item)
        if lane.worker is None or lane.worker.done():
            lane.worker = asyncio.create_task(self._drain(key, lane), name=f"lane:{key}")

    async def cancel(self, key: str) -> bool:
        """Stop the running item and drop the waiting ones. True if anything was stopped."""
        lane = self._lanes.get(key)
        if lane is None:
            return False
        dropped = 0
        while not lane.queue.empty():
            lane.queue.get_nowait()
            dropped += 1
        running = lane.current
        if running is not None and not running.done():
            running.cancel()
            try:
                await running
            except (asyncio.CancelledError, Exception):
                pass
            return True
        return dropped > 0

    async def _drain(self, key: str, lane: _Lane) -> None:
        while not lane.queue.empty():
            item = lane.queue.get_nowait()
            item = self._merge_followers(lane, item)
            lane.current = asyncio.create_task(self._run(item), name=f"work:{key}")
            try:
                await asyncio.shield(lane.current)
            except asyncio.CancelledError:
                if lane.current.cancelled() or lane.current.done():
                    continue  # the item was cancelled by /cancel; the lane goes on
                raise
            except Exception:
                log.exception("work item failed in a lane")
            finally:
                lane.current = None
        if self._lanes.get(key) is lane and lane.queue.empty():
            del self._lanes[key]
            ACTIVE_CHATS.set(len(self._lanes))

    def _merge_followers(self, lane: _Lane, item: WorkItem) -> WorkItem:
        if item.merge_key is None:
            return item
        while not lane.queue.empty():
            follower = lane.queue._queue[0]  # type: ignore[attr-defined]  # peek without taking
            if follower.merge_key != item.merge_key:
                break
            lane.queue.get_nowait()
            item.payload.extend(follower.payload)
        return item

    async def _run(self, item: WorkItem) -> None:
        if self._item_timeout is None:
            await item.run(item)
            return
        try:
            await asyncio.wait_for(item.run(item), self._item_timeout)
        except asyncio.TimeoutError:
            if self._on_timeout is not None:
                await self._on_timeout(item)

    async def close(self) -> None:
        """Stop taking work and cancel what runs (used at shutdown, after persisting state)."""
        self._closed = True
        tasks = [lane.worker for lane in self._lanes.values() if lane.worker]
        tasks += [lane.current for lane in self._lanes.values() if lane.current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._lanes.clear()
        ACTIVE_CHATS.set(0)

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait for all lanes to go idle (used by the piped console). True if they did."""
        async def idle() -> None:
            while self._lanes:
                workers = [lane.worker for lane in list(self._lanes.values()) if lane.worker]
                if not workers:
                    break
                await asyncio.gather(*workers, return_exceptions=True)
        try:
            await asyncio.wait_for(idle(), timeout)
            return True
        except asyncio.TimeoutError:
            return False
