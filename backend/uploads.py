"""Receiving media: multipart parts and URL downloads, streamed to disk chunk by chunk.

Nothing is held whole in memory: each chunk is hashed and written as it arrives, and the size cap
is enforced while streaming. The file is then opened (probed) to learn what it really is.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import unquote, urlsplit

import aiohttp

from backend.errors import ApiError
from backend.probe import kind_of_name, probe

CHUNK = 1024 * 1024
_SAFE_NAME = re.compile(r"[^\w.\- ]+", re.UNICODE)


class TooLarge(Exception):
    pass


def safe_filename(name: str | None, default: str = "upload") -> str:
    name = Path(unquote(name or "")).name
    name = _SAFE_NAME.sub("_", name).strip(" .")
    return (name or default)[:120]


class Receiver:
    """Writes one incoming file under data_dir/uploads, then describes it."""

    def __init__(self, root: Path, session_id: str, filename: str, max_bytes: int) -> None:
        self.filename = safe_filename(filename)
        self.key = secrets.token_urlsafe(12)
        self.dir = root / session_id / self.key
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / self.filename
        self.max_bytes = max_bytes
        self.size = 0
        self._hash = hashlib.sha256()
        self._file = open(self.path, "wb")

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.max_bytes:
            raise TooLarge()
        self._hash.update(chunk)
        self._file.write(chunk)

    def close(self) -> None:
        self._file.close()

    def discard(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)
        try:
            self.dir.rmdir()
        except OSError:
            pass

    async def finish(self, session_id: str, max_bytes: int) -> dict:
        """Probe the written file; 4001 when it is not media we accept."""
        self.close()
        declared = kind_of_name(self.filename)
        if self.size == 0:
            self.discard()
            raise ApiError(4001, f"“{self.filename}” is empty.")
        probed = await asyncio.to_thread(probe, self.path)
        if probed is None or (declared is not None and declared != probed.file_type):
            self.discard()
            raise ApiError(4001, f"“{self.filename}” is not a supported video, image or audio file.")
        if declared is None:  # a URL without an extension: name it by what it is
            ext = {"video": ".mp4", "image": ".jpg", "audio": ".m4a"}[probed.file_type]
            self.path = self.path.rename(self.path.with_name(self.path.name + ext))
            self.filename = self.path.name
        return {
            "id": uuid.uuid4().hex, "session_id": session_id, "filename": self.filename, "path": str(self.path),
            "cdn_path": f"/cdn/{self.key}/{self.filename}", "file_type": probed.file_type, "size": self.size,
            "duration": probed.duration, "width": probed.width, "height": probed.height, "fps": probed.fps,
            "has_audio": probed.has_audio, "hash": self._hash.hexdigest(),
        }


def remove_orphans(root: Path, stored_paths: Iterable[str]) -> int:
    """Delete upload folders that no stored upload points at: files a kill cut off mid-upload (or
    before their record was written). Run at start, when no upload can be in flight."""
    if not root.is_dir():
        return 0
    kept = {Path(p).parent for p in stored_paths}
    removed = 0
    for folder in root.glob("*/*"):
        if folder.is_dir() and folder not in kept:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


def too_large(filename: str, max_bytes: int) -> ApiError:
    mb = max_bytes / (1024 * 1024)
    return ApiError(4002, f"“{safe_filename(filename)}” is too large (the limit is {mb:g} MB).")


def check_extension(filename: str) -> None:
    """Refuse early what no probe could accept: a name with an extension we don't take."""
    suffix = Path(filename).suffix
    if suffix and kind_of_name(filename) is None:
        raise ApiError(4001, f"“{safe_filename(filename)}” is not a supported file type.")


async def receive_part(part, root: Path, session_id: str, max_bytes: int) -> dict:
    filename = part.filename or "upload"
    check_extension(filename)
    receiver = Receiver(root, session_id, filename, max_bytes)
    try:
        while True:
            chunk = await part.read_chunk(CHUNK)
            if not chunk:
                break
            receiver.write(chunk)
    except TooLarge:
        receiver.discard()
        raise too_large(filename, max_bytes) from None
    except BaseException:
        receiver.discard()
        raise
    return await receiver.finish(session_id, max_bytes)


async def fetch_url(http: aiohttp.ClientSession, url: str, root: Path, session_id: str, max_bytes: int,
                    timeout: float) -> dict:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ApiError(4003, "That link can't be downloaded: it must start with http:// or https://.")
    filename = safe_filename(Path(parts.path).name, "download")
    check_extension(filename)
    receiver = None
    try:
        async with http.get(url, timeout=aiohttp.ClientTimeout(total=timeout, sock_connect=15)) as resp:
            if resp.status != 200:
                raise ApiError(4003, f"That link could not be downloaded (HTTP {resp.status}).")
            if resp.content_length and resp.content_length > max_bytes:
                raise too_large(filename, max_bytes)
            receiver = Receiver(root, session_id, filename, max_bytes)
            async for chunk in resp.content.iter_chunked(CHUNK):
                receiver.write(chunk)
    except TooLarge:
        receiver.discard()
        raise too_large(filename, max_bytes) from None
    except (aiohttp.ClientError, asyncio.TimeoutError):
        if receiver:
            receiver.discard()
        raise ApiError(4003, "That link could not be downloaded.") from None
    except BaseException:
        if receiver:
            receiver.discard()
        raise
    return await receiver.finish(session_id, max_bytes)
