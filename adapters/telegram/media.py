"""Telegram attachments -> lazy MediaItems.

Every way a clip arrives is accepted: `video`, `animation` (clients send silent MP4s as GIFs),
`video_note`, and a `document` with a video type or extension. Other media (photo, sticker,
voice, audio, any other document) still become items with their kind, so the core refuses them
politely in the user's language (core.media.check_before_fetch).

Nothing is downloaded until the core calls `fetch`. The file path Telegram returns embeds the
bot token in its URL, so it is never logged and never put in an error.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from telegram import Bot, Message
from telegram.error import BadRequest, TelegramError

from adapters.telegram.config import TelegramConfig
from core.events import Fetcher, MediaFetchError, MediaItem

log = logging.getLogger(__name__)

_SAFE_SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,5}$")
_DEFAULT_SUFFIX = {"video": ".mp4", "animation": ".mp4", "video_note": ".mp4", "photo": ".jpg",
                   "sticker": ".webp", "voice": ".ogg", "audio": ".mp3", "document": ".bin"}


def media_of(message: Message, bot: Bot, config: TelegramConfig) -> list[MediaItem]:
    """The attachment of one message as a list (empty when it carries none)."""
    limit = config.download_limit
    if message.video:
        v = message.video
        return [_item("video", v, bot, config, limit, v.file_name, v.mime_type, _duration(v), v.width, v.height)]
    if message.animation:
        a = message.animation
        return [_item("animation", a, bot, config, limit, a.file_name, a.mime_type, _duration(a), a.width, a.height)]
    if message.video_note:
        n = message.video_note
        return [_item("video_note", n, bot, config, limit, None, "video/mp4", _duration(n), n.length, n.length)]
    if message.document:
        d = message.document
        return [_item("document", d, bot, config, limit, d.file_name, d.mime_type, None, None, None)]
    if message.photo:
        p = message.photo[-1]  # the largest size
        return [_item("photo", p, bot, config, limit, None, "image/jpeg", None, p.width, p.height)]
    if message.sticker:
        s = message.sticker
        return [_item("sticker", s, bot, config, limit, None, None, None, s.width, s.height)]
    if message.voice:
        vo = message.voice
        return [_item("voice", vo, bot, config, limit, None, vo.mime_type, _duration(vo), None, None)]
    if message.audio:
        au = message.audio
        return [_item("audio", au, bot, config, limit, au.file_name, au.mime_type, _duration(au), None, None)]
    return []


def _item(kind, tg, bot, config, limit, file_name, mime_type, duration, width, height) -> MediaItem:
    return MediaItem(
        kind=kind,
        fetch=make_fetcher(bot, tg.file_id, tg.file_unique_id, kind, file_name, config),
        file_name=file_name,
        mime_type=mime_type,
        size_bytes=tg.file_size,
        duration=duration,
        width=width,
        height=height,
        max_fetch_bytes=limit,
    )


def _duration(tg) -> float | None:
    # The raw seconds from the update (reading `.duration` warns: it becomes a timedelta in PTB 23).
    return _seconds(tg.to_dict().get("duration"))


def _seconds(duration) -> float | None:
    if duration is None:
        return None
    return float(duration.total_seconds()) if hasattr(duration, "total_seconds") else float(duration)


def make_fetcher(bot: Bot, file_id: str, unique_id: str, kind: str, file_name: str | None,
                 config: TelegramConfig) -> Fetcher:
    async def fetch(dest_dir: Path) -> Path:
        try:
            tg_file = await bot.get_file(file_id, read_timeout=60)
        except BadRequest as error:
            if "too big" in (error.message or "").lower():
                raise MediaFetchError("Telegram doesn't let bots download files this big.") from None
            log.warning("telegram getFile refused a %s: %s", kind, type(error).__name__)
            raise MediaFetchError("Telegram wouldn't hand over that file. Please send it again.") from None
        except TelegramError as error:
            log.warning("telegram getFile failed for a %s: %s", kind, type(error).__name__)
            raise MediaFetchError("Telegram didn't answer in time. Please send it again.") from None
        dest_dir.mkdir(parents=True, exist_ok=True)
        dest = dest_dir / f"telegram-{_safe_stem(unique_id)}{_suffix(kind, file_name, tg_file.file_path)}"
        try:
            await tg_file.download_to_drive(dest, read_timeout=config.media_timeout)
        except (TelegramError, OSError) as error:
            dest.unlink(missing_ok=True)
            log.warning("telegram download failed for a %s: %s", kind, type(error).__name__)
            raise MediaFetchError("The download from Telegram broke off. Please send it again.") from None
        return dest

    return fetch


def _safe_stem(unique_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", unique_id)[:64] or "file"


def _suffix(kind: str, file_name: str | None, file_path: str | None) -> str:
    for candidate in (file_name, file_path):
        if candidate:
            suffix = Path(candidate).suffix.lower()
            if _SAFE_SUFFIX.match(suffix):
                return suffix
    return _DEFAULT_SUFFIX.get(kind, ".bin")
