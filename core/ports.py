"""The reply port: the only way the core talks back to a chat.

Each adapter implements it for its surface. Surfaces without a feature degrade to text:
a surface that cannot edit messages shows progress as occasional new lines, and one that cannot
send a file of that size gets the download link instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class SurfaceLimits:
    max_upload_bytes: int  # the largest file the bot may send into this chat
    can_edit_messages: bool = True
    max_text_length: int = 4000
    # Upper bounds the platform likes for video (Telegram: 1080x1920 is plenty); None = any.
    max_video_width: int | None = None
    max_video_height: int | None = None


@dataclass(frozen=True)
class OutgoingVideo:
    path: Path
    width: int
    height: int
    duration: float  # seconds
    thumbnail: Path | None = None  # a JPEG, at most 320 px on the long side
    caption: str | None = None
    file_name: str = "video-with-music.mp4"
    supports_streaming: bool = True


@dataclass(frozen=True)
class Progress:
    """What a progress display shows: a stage in words and a percent when known."""

    stage: str
    percent: float | None = None  # 0..100
    detail: str | None = None


@runtime_checkable
class ReplyPort(Protocol):
    def limits(self) -> SurfaceLimits: ...

    async def send_text(self, text: str) -> None: ...

    async def send_video(self, video: OutgoingVideo) -> None: ...

    async def progress_start(self, progress: Progress) -> None:
        """Show a progress display (a status message edited in place, a live line...)."""

    async def progress_update(self, progress: Progress) -> None: ...

    async def progress_finish(self, final_text: str | None = None) -> None:
        """Close the display; with text, leave that text in its place."""


@runtime_checkable
class Surface(Protocol):
    """A chat surface as the core sees it after a restart: it can rebuild a reply port for a chat
    from what the port once said about where to deliver (kept in the job store)."""

    name: str  # "telegram", "discord", "console", ...

    def reply_port_for(self, chat_id: str, delivery: dict) -> ReplyPort: ...


def delivery_target(port: ReplyPort) -> dict:
    """What to persist so the surface can rebuild this port later (JSON-serialisable)."""
    getter = getattr(port, "delivery_target", None)
    return dict(getter()) if callable(getter) else {}
