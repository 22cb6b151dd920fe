"""The reply port for one Discord conversation turn.

While the interaction token lives (15 minutes from the slash command), everything goes through
the interaction's webhook: the deferred "thinking…" response becomes the progress display, edited
in place, and the video arrives as a follow-up with the file. Work that outlives the token (or a
mention, which has no token) is delivered with ordinary channel messages instead of failing; the
bot can post and edit its own messages there. A webhook call that fails because the token died
early (401/404) switches to the channel path and is retried there once.

Everything the port needs to be rebuilt after a restart is in `Delivery`, a plain JSON dict.

Deliveries (the video, texts) that discord.py gave up on (a dropped upload, 5xx or 429 after its
own tries) are tried again with capped backoff (core.retry, classified in rest.py), re-creating
the discord.File each attempt; a video that still fails raises PlatformGaveUp, which the core
turns into one plain line. Progress edits are never retried: the newest state shows next time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import asdict, dataclass, fields
from typing import Any, Awaitable, Callable

import discord

from adapters.discord.rest import classify, count_library_retries
from core.i18n import human_size, lang_of, say
from core.metrics import PLATFORM_RETRIES
from core.ports import OutgoingVideo, Progress, SurfaceLimits
from core.retry import PlatformGaveUp, Retryable, RetryPolicy, retry_call

log = logging.getLogger(__name__)

MAX_TEXT = 2000  # Discord's message length limit
_DEAD_TOKEN_STATUS = (401, 404)  # 50027 Invalid Webhook Token, 10015/10062 Unknown webhook/interaction


@dataclass
class Delivery:
    """Where and how to answer; JSON-serialisable (kept in the job store for restarts)."""

    channel_id: int
    filesize_limit: int  # the interaction's attachment_size_limit (or the guild's limit)
    channel_filesize_limit: int  # what a plain channel message may carry (guild boost level)
    application_id: int | None = None
    token: str | None = None  # the interaction token; a short-lived secret, never logged
    expires_at: float | None = None  # unix time the token dies
    user_id: int | None = None  # mentioned when a late delivery lands in the channel
    reply_to_message_id: int | None = None  # the user's message (mention flow)
    original_message_id: int | None = None  # the deferred response, once it shows something
    status_via: str | None = None  # where the progress display lives: "webhook" or "channel"
    status_message_id: int | None = None
    language: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Delivery":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def render_progress(progress: Progress) -> str:
    line = progress.stage
    if progress.percent is not None:
        pct = max(0.0, min(100.0, float(progress.percent)))
        filled = int(round(pct / 10))
        line += f" · {pct:.0f}%\n{'▰' * filled}{'▱' * (10 - filled)}"
    else:
        line += "…" if not line.endswith(("…", ".")) else ""
    if progress.detail:
        line += f"\n_{progress.detail}_"
    return line[:MAX_TEXT]


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    parts: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        if cut <= 0:
            cut = limit
        parts.append(text[:cut])
        text = text[cut:].lstrip("\n")
    if text or not parts:
        parts.append(text)
    return parts


class DiscordReplyPort:
    """Implements core.ports.ReplyPort for a channel, through an interaction while it can."""

    def __init__(self, client: discord.Client, delivery: Delivery, *,
                 interaction: discord.Interaction | None = None,
                 token_margin: float = 60.0, progress_interval: float = 1.5,
                 clock: Callable[[], float] = time.time,
                 ready: Callable[[], Awaitable[Any]] | None = None,
                 retry: RetryPolicy | None = None) -> None:
        self._client = client
        self._retry = retry or RetryPolicy()
        count_library_retries()
        # A port rebuilt while the bot starts (resumed jobs) waits until the client can talk REST.
        self._ready = ready
        self.delivery = delivery
        self._interaction = interaction
        self._margin = token_margin
        self._interval = progress_interval
        self._clock = clock
        self._token_dead = delivery.token is None
        # "pending" = the deferred response still says "thinking…"; "used" = it shows something.
        self._original = "used" if delivery.original_message_id else ("pending" if delivery.token else "none")
        self._lock = asyncio.Lock()
        self._last_edit = 0.0
        self._pending_text: str | None = None
        self._flush: asyncio.Task | None = None

    @property
    def _status(self) -> tuple[str, int] | None:
        """("webhook"|"channel", message id) of the progress display; kept in the delivery so a
        port rebuilt after a restart goes on editing the same line."""
        d = self.delivery
        return (d.status_via, d.status_message_id) if d.status_via and d.status_message_id else None

    @_status.setter
    def _status(self, value: tuple[str, int] | None) -> None:
        self.delivery.status_via, self.delivery.status_message_id = value if value else (None, None)

    # --- ReplyPort -----------------------------------------------------------------------------

    def limits(self) -> SurfaceLimits:
        limit = self.delivery.filesize_limit if self._token_usable() else self.delivery.channel_filesize_limit
        return SurfaceLimits(max_upload_bytes=int(limit), can_edit_messages=True, max_text_length=MAX_TEXT)

    def delivery_target(self) -> dict:
        return self.delivery.to_dict()

    async def send_text(self, text: str) -> None:
        await self._wait_ready()
        async with self._lock:
            for part in split_text(text):
                if self._original == "pending" and self._token_usable():
                    if await self._webhook_call(self._fill_original(part)):
                        continue
                await self._post_retrying(part)

    async def send_video(self, video: OutgoingVideo) -> None:
        await self._wait_ready()
        async with self._lock:
            caption = (video.caption or "")[:MAX_TEXT]
            if self._original == "pending" and self._token_usable() and caption:
                # Put the words where "thinking…" was; the file follows.
                if await self._webhook_call(self._fill_original(caption)):
                    caption = ""
            try:
                await self._post_retrying(caption, video=video)
            except discord.HTTPException as error:
                if error.status != 413:
                    raise
                size = video.path.stat().st_size
                limit = human_size(self.limits().max_upload_bytes)
                await self._post(say("too_big_no_link", self._lang(), size=human_size(size), limit=limit))

    async def progress_start(self, progress: Progress) -> None:
        await self._wait_ready()
        text = render_progress(progress)
        async with self._lock:
            self._cancel_flush()
            if self._status is not None:
                await self._edit_status(text)
            else:
                await self._open_status(text)
            self._last_edit = time.monotonic()

    async def progress_update(self, progress: Progress) -> None:
        await self._wait_ready()
        text = render_progress(progress)
        wait = self._interval - (time.monotonic() - self._last_edit)
        if wait <= 0 and self._flush is None:
            async with self._lock:
                await self._edit_status(text)
                self._last_edit = time.monotonic()
            return
        # Too soon: remember the newest state and show it when the interval is over.
        self._pending_text = text
        if self._flush is None:
            self._flush = asyncio.create_task(self._flush_later(max(wait, 0.0)), name="discord-progress")

    async def progress_finish(self, final_text: str | None = None) -> None:
        await self._wait_ready()
        async with self._lock:
            self._cancel_flush()
            status, self._status = self._status, None
            if status is None:
                if final_text:
                    for part in split_text(final_text):
                        await self._post(part)
                return
            if final_text:
                parts = split_text(final_text)
                self._status = status
                await self._edit_status(parts[0])
                self._status = None
                for part in parts[1:]:
                    await self._post(part)
            else:
                await self._delete(status)

    # --- internals -----------------------------------------------------------------------------

    async def _wait_ready(self) -> None:
        if self._ready is not None:
            await self._ready()

    def _lang(self) -> str:
        return lang_of(self.delivery.language)

    def _token_usable(self) -> bool:
        if self._token_dead or self.delivery.token is None or self.delivery.expires_at is None:
            return False
        return self._clock() < self.delivery.expires_at - self._margin

    def _webhook(self) -> discord.Webhook:
        assert self.delivery.application_id is not None and self.delivery.token is not None
        return discord.Webhook.partial(self.delivery.application_id, self.delivery.token, client=self._client)

    def _channel(self) -> discord.PartialMessageable:
        return self._client.get_partial_messageable(self.delivery.channel_id)

    async def _webhook_call(self, coro) -> bool:
        """Run a webhook call; False (and the port switches to the channel) if the token died."""
        try:
            await coro
            return True
        except discord.HTTPException as error:
            if error.status in _DEAD_TOKEN_STATUS:
                log.info("discord interaction token no longer valid (%s); using the channel", error.status)
                self._token_dead = True
                return False
            raise

    async def _fill_original(self, text: str) -> None:
        if self._interaction is not None:
            message = await self._interaction.edit_original_response(content=text)
        else:  # a rebuilt port: the deferred response is still the "thinking" placeholder
            message = await self._webhook().edit_message(await self._original_id(), content=text)
        self.delivery.original_message_id = message.id
        self._original = "used"

    async def _original_id(self) -> int:
        if self.delivery.original_message_id is None:
            # The webhook API calls the deferred response "@original"; ask it for its real id.
            assert self.delivery.application_id is not None and self.delivery.token is not None
            route = discord.http.Route("GET", "/webhooks/{webhook_id}/{webhook_token}/messages/@original",
                                       webhook_id=self.delivery.application_id, webhook_token=self.delivery.token)
            data: Any = await self._client.http.request(route)
            self.delivery.original_message_id = int(data["id"])
        return self.delivery.original_message_id

    async def _post_retrying(self, text: str, *, video: OutgoingVideo | None = None) -> int:
        """`_post` until it lands or the retry policy is used up. Only failures where Discord
        provably did not post anything are retried (rest.classify), so nothing arrives twice."""
        def count(verdict: Retryable, attempt: int, delay: float) -> None:
            PLATFORM_RETRIES.labels(surface="discord", reason=verdict.reason).inc()
            log.info("discord %s: %s, retry %d in %.1f s", "upload" if video else "message", verdict.reason,
                     attempt, delay)

        try:
            # _post builds a new discord.File per call: discord.py closes the file after a request.
            return await retry_call(lambda: self._post(text, video=video), policy=self._retry, classify=classify,
                                    on_retry=count)
        except Exception as error:
            if video is not None and classify(error) is not None:
                raise PlatformGaveUp("discord kept refusing the video") from error
            raise

    async def _post(self, text: str, *, video: OutgoingVideo | None = None) -> int:
        """A new message: a webhook follow-up while the token lives, else a channel message."""
        if self._token_usable():
            file = self._file(video)
            try:
                message = await self._webhook().send(content=text or discord.utils.MISSING, file=file or discord.utils.MISSING,
                                                     wait=True)
                return message.id
            except discord.HTTPException as error:
                if error.status not in _DEAD_TOKEN_STATUS:
                    raise
                log.info("discord interaction token no longer valid (%s); using the channel", error.status)
                self._token_dead = True
        return await self._channel_send(text, self._file(video))

    async def _channel_send(self, text: str, file: discord.File | None = None) -> int:
        kwargs: dict[str, Any] = {}
        if self.delivery.reply_to_message_id is not None:
            kwargs["reference"] = discord.MessageReference(
                message_id=self.delivery.reply_to_message_id, channel_id=self.delivery.channel_id,
                fail_if_not_exists=False)
            kwargs["mention_author"] = True
        elif self.delivery.user_id is not None and self.delivery.token is not None:
            # A late answer to a slash command: say who it is for, since the command is long gone.
            text = f"<@{self.delivery.user_id}> {text}".strip()[:MAX_TEXT]
        kwargs["allowed_mentions"] = discord.AllowedMentions(users=True, everyone=False, roles=False, replied_user=True)
        if file is not None:
            kwargs["file"] = file
        message = await self._channel().send(content=text or None, **kwargs)
        return message.id

    @staticmethod
    def _file(video: OutgoingVideo | None) -> discord.File | None:
        if video is None:
            return None
        return discord.File(video.path, filename=video.file_name)

    async def _open_status(self, text: str) -> None:
        if self._original == "pending" and self._token_usable():
            if await self._webhook_call(self._fill_original(text)):
                self._status = ("webhook", self.delivery.original_message_id or 0)
                return
        message_id = await self._post(text)
        # _post fell back to the channel if the token died on the way; the status lives there then.
        self._status = ("webhook" if self._token_usable() else "channel", message_id)

    async def _edit_status(self, text: str) -> None:
        if self._status is None:
            await self._open_status(text)
            return
        via, message_id = self._status
        if via == "webhook":
            if self._token_usable():
                if await self._webhook_call(self._webhook().edit_message(message_id, content=text)):
                    return
            # The token is gone: the old display stays as it was; continue in a channel message.
            self._status = ("channel", await self._channel_send(text))
            return
        await self._channel().get_partial_message(message_id).edit(content=text)

    async def _delete(self, status: tuple[str, int]) -> None:
        via, message_id = status
        try:
            if via == "webhook":
                if self._token_usable():
                    await self._webhook().delete_message(message_id)
            else:
                await self._channel().get_partial_message(message_id).delete()
        except discord.HTTPException as error:  # a leftover status line is harmless
            log.info("discord status message not removed (%s)", error.status)

    async def _flush_later(self, wait: float) -> None:
        try:
            await asyncio.sleep(wait)
            async with self._lock:
                text, self._pending_text = self._pending_text, None
                self._flush = None
                if text is not None and self._status is not None:
                    await self._edit_status(text)
                    self._last_edit = time.monotonic()
        except asyncio.CancelledError:
            raise
        except Exception as error:  # progress is a courtesy: never break the job over it
            log.warning("discord progress edit failed: %s", type(error).__name__)
        finally:
            if self._flush is asyncio.current_task():
                self._flush = None

    def _cancel_flush(self) -> None:
        if self._flush is not None and self._flush is not asyncio.current_task():
            self._flush.cancel()
        self._flush = None
        self._pending_text = None

