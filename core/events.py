"""The platform-neutral inbound event: what every adapter turns a platform update into.

An adapter answers the questions the core needs (who, where, is it a group, was the bot
addressed, what text, which media) and hands over a reply port, the only way back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Awaitable, Callable, Protocol

from core.ports import ReplyPort


class MediaFetchError(Exception):
    """A media item could not be fetched; str(error) is safe to show the user."""


# fetch(dest_dir) -> path of the downloaded file inside dest_dir
Fetcher = Callable[[Path], Awaitable[Path]]


@dataclass
class MediaItem:
    """A clip the user sent, fetched lazily: nothing is downloaded until the core asks.

    `size_bytes` and `mime_type` are what the platform claims (may be None); the core
    checks them against limits before fetching and probes the real file after.
    """

    kind: str  # "video", "animation", "video_note", "document", "audio", "voice", "photo", "sticker", "url"
    fetch: Fetcher
    file_name: str | None = None
    mime_type: str | None = None
    size_bytes: int | None = None
    duration: float | None = None
    width: int | None = None
    height: int | None = None
    # Platform limit on what the bot may download (e.g. 20 MB on Telegram's cloud Bot API); None = no limit.
    max_fetch_bytes: int | None = None

    @property
    def looks_like_video(self) -> bool:
        if self.kind in ("video", "animation", "video_note"):
            return True
        if self.mime_type and self.mime_type.startswith("video/"):
            return True
        name = (self.file_name or "").lower()
        return name.endswith((".mp4", ".mov", ".m4v", ".avi", ".webm", ".mkv"))


@dataclass
class InboundEvent:
    """One message (or one gathered album) from a chat."""

    surface: str  # "telegram", "discord", "console", "test"
    chat_id: str  # stable per chat/channel; one backend session per chat
    user_id: str
    reply: ReplyPort
    text: str = ""
    media: list[MediaItem] = field(default_factory=list)
    is_group: bool = False
    addressed_to_bot: bool = True  # in groups: a command for us, a reply to us or a mention
    language: str | None = None  # IETF-ish code from the platform, e.g. "en", "zh-hans"
    user_name: str | None = None
    message_id: str | None = None
    # A command already parsed by the platform (Discord slash commands): name without "/".
    command: str | None = None

    @property
    def chat_key(self) -> str:
        """The key for per-chat state: a surface can reuse chat ids of another surface."""
        return f"{self.surface}:{self.chat_id}"


class EventHandler(Protocol):
    async def handle(self, event: InboundEvent) -> None: ...
