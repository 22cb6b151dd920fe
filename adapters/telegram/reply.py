"""The reply port for one Telegram chat: text, videos and a status message edited in place.

Progress is ONE message: it is edited (never re-posted) when the words change, at most once per
`edit_interval`, and the last words wanted are always shown in the end. While work runs, an
`upload_video` chat action ("sending video…") is refreshed, since Telegram clears it after 5 s.
Display failures never raise: progress is a courtesy, the video is what matters. Display calls
are made once (never retried into a pile-up, see flood.py): after a 429 the status waits out
Telegram's retry_after, after any other failure one edit interval, then shows the newest words,
so a flood of updates collapses to the latest. Deliveries (videos, texts) are retried by the
rate limiter in flood.py.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from telegram import Bot, ReplyParameters
from telegram.constants import ChatAction, MessageLimit
from telegram.error import BadRequest, RetryAfter, TelegramError

from adapters.telegram.config import TelegramConfig
from adapters.telegram.flood import classify, retry_after_seconds
from core.ports import OutgoingVideo, Progress, SurfaceLimits
from core.retry import PlatformGaveUp

log = logging.getLogger(__name__)

CAPTION_LIMIT = MessageLimit.CAPTION_LENGTH  # 1024
TEXT_LIMIT = MessageLimit.MAX_TEXT_LENGTH  # 4096
# A long side of 1920 keeps both 1920x1080 and 1080x1920 whole; more only costs upload size.
MAX_VIDEO_SIDE = 1920
MAX_ACTION_SECONDS = 2 * 3600


def render_progress(progress: Progress) -> str:
    line = progress.stage
    if progress.percent is not None:
        percent = max(0.0, min(100.0, progress.percent))
        filled = int(percent // 10)
        line += f"\n{'▰' * filled}{'▱' * (10 - filled)} {percent:.0f}%"
    if progress.detail:
        line += f"\n{progress.detail}"
    return line


class TelegramReplyPort:
    def __init__(self, bot: Bot, chat_id: int, config: TelegramConfig, *, is_group: bool = False,
                 reply_to: int | None = None, thread_id: int | None = None,
                 ready: asyncio.Event | None = None) -> None:
        self._bot = bot
        # Set once the surface is started: a port rebuilt for a resumed delivery may be used by
        # the core before the bot has connected, and then waits instead of failing.
        self._ready = ready
        self.chat_id = chat_id
        self._config = config
        self._is_group = is_group
        self._reply_to = reply_to
        self._thread_id = thread_id
        self._edit_interval = config.group_edit_interval if is_group else config.edit_interval
        self._action_interval = config.group_action_interval if is_group else config.action_interval
        self._status_id: int | None = None
        self._shown: str | None = None  # text the status message shows now
        self._wanted: str | None = None  # text it should show
        self._last_edit = 0.0
        self._hold_until = 0.0  # monotonic: no display call before this (after a failed one)
        self._flush: asyncio.Task | None = None
        self._actions: asyncio.Task | None = None
        self._lock = asyncio.Lock()

    # --- what the core may ask -------------------------------------------------------------

    def limits(self) -> SurfaceLimits:
        return SurfaceLimits(
            max_upload_bytes=self._config.upload_limit,
            can_edit_messages=True,
            max_text_length=TEXT_LIMIT,
            max_video_width=MAX_VIDEO_SIDE,
            max_video_height=MAX_VIDEO_SIDE,
        )

    def delivery_target(self) -> dict:
        """What the surface needs to rebuild this port after a restart."""
        return {"chat_id": self.chat_id, "reply_to": self._reply_to, "thread_id": self._thread_id,
                "is_group": self._is_group}

    async def send_text(self, text: str) -> None:
        await self._wait_ready()
        for chunk in split_text(text):
            await self._bot.send_message(self.chat_id, chunk, **self._placement())

    async def send_video(self, video: OutgoingVideo) -> None:
        caption = video.caption
        extra_text = None
        if caption and len(caption) > CAPTION_LIMIT:
            caption, extra_text = None, caption
        await self._wait_ready()
        timeouts = {"write_timeout": self._config.media_timeout, "read_timeout": self._config.media_timeout}
        # Paths, not open handles: PTB reads the file into memory once and every retry (flood.py)
        # re-posts those bytes (a handle would be spent after the first try), or sends a file://
        # path a local Bot API server reads itself.
        try:
            await self._send_video(video, caption, timeouts)
        except TelegramError as error:
            if classify(error) is not None:  # still 429/5xx/cut off after every retry
                raise PlatformGaveUp("telegram kept refusing the video") from error
            raise
        if extra_text:
            await self.send_text(extra_text)

    async def _send_video(self, video: OutgoingVideo, caption: str | None, timeouts: dict) -> None:
        await self._bot.send_video(
            self.chat_id,
            Path(video.path),
            duration=max(1, round(video.duration)),
            width=video.width,
            height=video.height,
            thumbnail=Path(video.thumbnail) if video.thumbnail else None,
            caption=caption,
            supports_streaming=video.supports_streaming,
            filename=video.file_name,
            **timeouts,
            **self._placement(),
        )

    async def progress_start(self, progress: Progress) -> None:
        if self._status_id is not None:
            await self.progress_update(progress)
            return
        self._wanted = render_progress(progress)
        await self._wait_ready()
        if time.monotonic() < self._hold_until:
            self._show_later()  # Telegram asked us to slow down: post the newest words then
        else:
            await self._post_status()
        if self._actions is None:
            self._actions = asyncio.create_task(self._keep_action(), name="telegram-chat-action")

    async def progress_update(self, progress: Progress) -> None:
        if self._status_id is None:
            await self.progress_start(progress)
            return
        self._wanted = render_progress(progress)
        if self._wanted == self._shown:
            return
        now = time.monotonic()
        if max(self._last_edit + self._edit_interval, self._hold_until) <= now:
            await self._edit_to_wanted()
        else:
            self._show_later()  # too soon: show the latest words once the interval has passed

    async def progress_finish(self, final_text: str | None = None) -> None:
        for task in (self._flush, self._actions):
            if task is not None:
                task.cancel()
        self._flush = self._actions = None
        status_id, self._status_id = self._status_id, None
        self._shown = self._wanted = None
        if status_id is None:
            if final_text:
                await self.send_text(final_text)
            return
        if final_text and len(final_text) <= TEXT_LIMIT:
            try:
                await self._bot.edit_message_text(final_text, chat_id=self.chat_id, message_id=status_id)
                return
            except BadRequest as error:
                if "not modified" in (error.message or "").lower():
                    return
                log.info("telegram final status edit refused: %s", type(error).__name__)
            except TelegramError as error:
                log.info("telegram final status edit failed: %s", type(error).__name__)
        try:
            await self._bot.delete_message(self.chat_id, status_id)
        except TelegramError as error:
            log.info("telegram status delete failed: %s", type(error).__name__)
        if final_text:
            await self.send_text(final_text)

    # --- inside ----------------------------------------------------------------------------

    async def _wait_ready(self) -> None:
        if self._ready is not None and not self._ready.is_set():
            await self._ready.wait()

    def _placement(self) -> dict:
        placement: dict = {}
        if self._thread_id is not None:
            placement["message_thread_id"] = self._thread_id
        if self._reply_to is not None:
            placement["reply_parameters"] = ReplyParameters(self._reply_to, allow_sending_without_reply=True)
        return placement

    def _show_later(self) -> None:
        pending = self._flush
        if pending is not None and not pending.done() and pending is not asyncio.current_task():
            return  # one pending display call at most: it shows whatever is newest then
        self._flush = asyncio.create_task(self._show_when_allowed(), name="telegram-status-edit")

    async def _show_when_allowed(self) -> None:
        # Re-read the clock each time: a failure meanwhile may have pushed the next call back.
        while (wait := max(self._last_edit + self._edit_interval, self._hold_until) - time.monotonic()) > 0:
            await asyncio.sleep(wait)
        if self._status_id is None:
            await self._post_status()
        else:
            await self._edit_to_wanted()

    def _held_back(self, error: TelegramError) -> None:
        """After a failed display call: wait before the next, then show the newest words."""
        pause = retry_after_seconds(error) if isinstance(error, RetryAfter) else self._edit_interval
        self._hold_until = time.monotonic() + pause
        self._show_later()

    async def _post_status(self) -> None:
        async with self._lock:
            text = self._wanted
            if self._status_id is not None or text is None:
                return
            try:
                # One attempt (rate_limit_args=1): the status is a courtesy, never a pile-up.
                message = await self._bot.send_message(self.chat_id, text, rate_limit_args=1,
                                                       **self._placement())
            except TelegramError as error:
                log.warning("telegram status message failed: %s", type(error).__name__)
                self._held_back(error)
                return
            self._status_id = message.message_id
            self._shown = text
            self._last_edit = time.monotonic()

    async def _edit_to_wanted(self) -> None:
        async with self._lock:
            text, status_id = self._wanted, self._status_id
            if status_id is None or text is None or text == self._shown:
                return
            self._last_edit = time.monotonic()
            try:
                await self._bot.edit_message_text(text, chat_id=self.chat_id, message_id=status_id)
                self._shown = text
            except BadRequest as error:
                if "not modified" in (error.message or "").lower():
                    self._shown = text
                else:
                    log.info("telegram status edit refused: %s", type(error).__name__)
            except TelegramError as error:
                log.info("telegram status edit failed: %s", type(error).__name__)
                self._held_back(error)

    async def _keep_action(self) -> None:
        # Bounded, so a job that never finishes its display cannot keep "sending video…" forever.
        until = time.monotonic() + MAX_ACTION_SECONDS
        while time.monotonic() < until:
            try:
                await self._bot.send_chat_action(self.chat_id, ChatAction.UPLOAD_VIDEO,
                                                 message_thread_id=self._thread_id)
            except TelegramError as error:
                log.info("telegram chat action failed: %s", type(error).__name__)
            await asyncio.sleep(self._action_interval)


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Split long text at line breaks (or hard, when a line alone is too long)."""
    text = text.strip() or "…"
    chunks: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        if cut <= 0:
            cut = limit
        chunks.append(text[:cut].rstrip())
        text = text[cut:].lstrip("\n")
    chunks.append(text)
    return chunks
