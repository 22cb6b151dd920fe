"""An in-memory chat surface for driving the real core in tests: it records what the user would see."""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from core.events import InboundEvent, MediaItem
from core.ports import OutgoingVideo, Progress, SurfaceLimits


@dataclass
class ChatLog:
    texts: list[str] = field(default_factory=list)
    videos: list[OutgoingVideo] = field(default_factory=list)
    progress: list[Progress] = field(default_factory=list)
    finished: int = 0


class MemoryPort:
    def __init__(self, chat: ChatLog, keep_dir: Path, limits: SurfaceLimits, chat_id: str) -> None:
        self.chat = chat
        self._keep_dir = keep_dir
        self._limits = limits
        self._chat_id = chat_id
        self.changed = asyncio.Event()

    def limits(self) -> SurfaceLimits:
        return self._limits

    def delivery_target(self) -> dict:
        return {"chat": self._chat_id}

    async def send_text(self, text: str) -> None:
        self.chat.texts.append(text)
        self.changed.set()

    async def send_video(self, video: OutgoingVideo) -> None:
        self._keep_dir.mkdir(parents=True, exist_ok=True)
        kept = self._keep_dir / f"video{len(self.chat.videos)}.mp4"
        shutil.copyfile(video.path, kept)  # the core deletes its temp files after sending
        self.chat.videos.append(OutgoingVideo(**{**video.__dict__, "path": kept, "thumbnail": None}))
        self.changed.set()

    async def progress_start(self, progress: Progress) -> None:
        self.chat.progress.append(progress)

    async def progress_update(self, progress: Progress) -> None:
        self.chat.progress.append(progress)

    async def progress_finish(self, final_text: str | None = None) -> None:
        self.chat.finished += 1
        if final_text:
            self.chat.texts.append(final_text)


class MemorySurface:
    name = "test"

    def __init__(self, root: Path, limits: SurfaceLimits | None = None) -> None:
        self.root = root
        self.limits = limits or SurfaceLimits(max_upload_bytes=50 * 1000 * 1000)
        self.chats: dict[str, ChatLog] = {}
        self._ports: dict[str, MemoryPort] = {}

    def reply_port_for(self, chat_id: str, delivery: dict | None = None) -> MemoryPort:
        if chat_id not in self._ports:
            chat = self.chats.setdefault(chat_id, ChatLog())
            self._ports[chat_id] = MemoryPort(chat, self.root / "received" / chat_id, self.limits, chat_id)
        return self._ports[chat_id]

    def event(self, chat_id: str, text: str = "", clips: list[Path] = (), *, command: str | None = None,
              language: str = "en", is_group: bool = False, addressed: bool = True) -> InboundEvent:
        return InboundEvent(
            surface=self.name, chat_id=chat_id, user_id=f"user-{chat_id}", reply=self.reply_port_for(chat_id),
            text=text, media=[clip_item(Path(c)) for c in clips], is_group=is_group, addressed_to_bot=addressed,
            language=language, command=command,
        )


def clip_item(path: Path) -> MediaItem:
    suffix = path.suffix.lower()
    kind = "video" if suffix in {".mp4", ".mov", ".mkv", ".webm", ".avi"} else "document"

    async def fetch(dest_dir: Path) -> Path:
        dest = Path(dest_dir) / f"clip{suffix}"
        shutil.copyfile(path, dest)
        return dest

    mime = {".pdf": "application/pdf"}.get(suffix, "video/mp4" if kind == "video" else None)
    return MediaItem(kind=kind, fetch=fetch, file_name=path.name, mime_type=mime, size_bytes=path.stat().st_size)
