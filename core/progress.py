"""One progress display per job, fed by stages, percents and tool activity.

It keeps the user informed without flooding the chat: updates with the same words are skipped,
and when nothing new has happened for a while it says "⏳ Still working…" so the chat never
looks frozen. Display errors never break the job: progress is a courtesy.
"""

from __future__ import annotations

import asyncio
import logging
import time

from core.i18n import say
from core.ports import Progress, ReplyPort

log = logging.getLogger(__name__)

# Backend tool names -> message keys for friendly words.
_TOOL_WORDS = {
    "generate_music": "tool_generate_music",
    "suno": "tool_generate_music",
    "edit_multitrack": "tool_edit_multitrack",
    "trim_video": "tool_trim_video",
    "add_title": "tool_add_title",
    "analyze": "tool_analyze",
    "analyze_video": "tool_analyze",
    "understand": "tool_analyze",
}


def tool_words(name: str, lang: str) -> str:
    key = _TOOL_WORDS.get(name)
    if key is None:
        key = next((k for tool, k in _TOOL_WORDS.items() if tool in name.lower()), "tool_generic")
    return say(key, lang)


class ProgressDisplay:
    def __init__(self, port: ReplyPort, lang: str, *, still_working_after: float = 120.0) -> None:
        self._port = port
        self._lang = lang
        self._still_after = still_working_after
        self._current: Progress | None = None
        self._shown: Progress | None = None
        self._last_news = time.monotonic()
        self._started = False
        self._watchdog: asyncio.Task | None = None

    async def stage(self, key: str, percent: float | None = None, detail: str | None = None) -> None:
        await self._show(Progress(say(key, self._lang), percent, detail))

    async def percent(self, percent: float | None) -> None:
        if self._current is not None:
            await self._show(Progress(self._current.stage, percent, self._current.detail))

    async def tool(self, name: str) -> None:
        stage = self._current.stage if self._current else say("stage_thinking", self._lang)
        await self._show(Progress(stage, self._current.percent if self._current else None, tool_words(name, self._lang)))

    def alive(self) -> None:
        """The backend is still there (a heartbeat): not news for the user, not a stall either."""

    async def finish(self, final_text: str | None = None) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self._started:
            self._started = False
            await self._safely(self._port.progress_finish(final_text))
        elif final_text:
            await self._safely(self._port.send_text(final_text))

    async def _show(self, progress: Progress) -> None:
        self._current = progress
        self._last_news = time.monotonic()
        if progress == self._shown:
            return
        self._shown = progress
        if not self._started:
            self._started = True
            await self._safely(self._port.progress_start(progress))
            self._watchdog = asyncio.create_task(self._watch(), name="progress-still-working")
        else:
            await self._safely(self._port.progress_update(progress))

    async def _watch(self) -> None:
        while True:
            quiet_for = time.monotonic() - self._last_news
            if quiet_for >= self._still_after and self._current is not None:
                still = Progress(self._current.stage, self._current.percent, say("still_working", self._lang))
                self._last_news = time.monotonic()
                if still != self._shown:
                    self._shown = still
                    await self._safely(self._port.progress_update(still))
                continue
            await asyncio.sleep(min(self._still_after - quiet_for, self._still_after) + 0.01)

    async def _safely(self, call) -> None:
        try:
            await call
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a display glitch must never fail the job
            log.warning("progress display failed: %s", type(error).__name__)
