"""Discord attachments as the core's lazy MediaItems, downloaded at once.

Attachment URLs are signed and expire, and the core fetches lazily (when the chat's lane gets to
the clip, maybe after a queue). So the adapter starts the download the moment the event is built,
into a staging folder, and `fetch(dest_dir)` just waits for it and moves the file into the core's
folder. Nothing is read into memory: the body is streamed to disk in chunks. A staged file the
core never claims (it refused the clip, the bot stopped) is deleted after `keep_for` seconds.
Only clips that look like videos and are not huge are fetched ahead; anything else is fetched on
demand, which is fine because the core refuses non-videos before fetching.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import uuid
from pathlib import Path
from typing import Protocol

import aiohttp

from core.events import MediaFetchError, MediaItem

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".mov", ".m4v", ".avi", ".webm", ".mkv")
_CHUNK = 1 << 16


class AttachmentLike(Protocol):
    filename: str
    content_type: str | None
    size: int
    url: str
    width: int | None
    height: int | None


def is_video(attachment: AttachmentLike) -> bool:
    """Discord's option filter checks only the extension, so look at the type and the name."""
    content_type = (attachment.content_type or "").lower()
    if content_type.startswith("video/"):
        return True
    if content_type and not content_type.startswith("application/octet-stream"):
        return False  # a declared non-video type (image/png, audio/mpeg...) wins over the name
    return attachment.filename.lower().endswith(VIDEO_EXTENSIONS)


def safe_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).name).strip("._")
    return cleaned[:100] or "clip"


class Prefetcher:
    def __init__(self, staging_dir: Path, *, keep_for: float = 1800.0,
                 max_prefetch_bytes: int = 512 * 1024 * 1024) -> None:
        self.staging_dir = Path(staging_dir)
        self.keep_for = keep_for
        self.max_prefetch_bytes = max_prefetch_bytes
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task] = set()
        self._timers: set[asyncio.TimerHandle] = set()

    async def start(self) -> None:
        self.staging_dir.mkdir(parents=True, exist_ok=True)
        if self._session is None:
            # No total timeout: a big clip may take minutes; a stalled read still fails.
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=120)
            self._session = aiohttp.ClientSession(timeout=timeout)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None
        shutil.rmtree(self.staging_dir, ignore_errors=True)

    def media_item(self, attachment: AttachmentLike) -> MediaItem:
        video = is_video(attachment)
        name = safe_name(attachment.filename)
        url = attachment.url
        staged: asyncio.Task[Path] | None = None
        if video and (attachment.size or 0) <= self.max_prefetch_bytes:
            staged = self._stage(url, name)
        claimed = False

        async def fetch(dest_dir: Path) -> Path:
            nonlocal claimed
            dest_dir.mkdir(parents=True, exist_ok=True)
            target = dest_dir / name
            if staged is not None and not claimed:
                claimed = True
                path = await asyncio.shield(staged)
                await asyncio.to_thread(shutil.move, str(path), str(target))
                return target
            await self._download(url, target)
            return target

        return MediaItem(
            kind="video" if video else "document",
            fetch=fetch,
            file_name=attachment.filename,
            mime_type=attachment.content_type,
            size_bytes=attachment.size,
            width=attachment.width,
            height=attachment.height,
        )

    def _stage(self, url: str, name: str) -> asyncio.Task[Path]:
        path = self.staging_dir / f"{uuid.uuid4().hex}-{name}"
        task = asyncio.create_task(self._download_quietly(url, path), name="discord-prefetch")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        timer = asyncio.get_running_loop().call_later(self.keep_for, self._forget, path)
        self._timers.add(timer)
        return task

    async def _download_quietly(self, url: str, path: Path) -> Path:
        await self._download(url, path)
        return path

    def _forget(self, path: Path) -> None:
        path.unlink(missing_ok=True)  # a no-op when the core already moved it

    async def _download(self, url: str, path: Path) -> None:
        if self._session is None:
            await self.start()
        assert self._session is not None
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            async with self._session.get(url) as response:
                if response.status in (403, 404, 410):
                    raise MediaFetchError("the link to that clip has expired or it was deleted. Please send it again.")
                if response.status != 200:
                    raise MediaFetchError("Discord didn't hand the file over. Please send it again.")
                with path.open("wb") as out:
                    async for chunk in response.content.iter_chunked(_CHUNK):
                        out.write(chunk)
        except MediaFetchError:
            path.unlink(missing_ok=True)
            raise
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as error:
            path.unlink(missing_ok=True)
            log.warning("discord attachment download failed: %s", type(error).__name__)
            raise MediaFetchError("the download from Discord broke off. Please send it again.") from None
