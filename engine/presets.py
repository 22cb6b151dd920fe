"""One word per destination: the byte cap, the resolution, the framing and the loudness target.

Byte caps are the platforms' documented upload limits (Telegram's Bot API sends up to 50 MB;
Discord's default attachment limit is 10 MiB; TikTok, Reels and Shorts accept far more, so their
caps only keep files sensible for a phone upload). Short-video platforms want 9:16.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.errors import EngineError


@dataclass(frozen=True)
class Preset:
    name: str
    max_bytes: int | None
    max_width: int | None  # caps on the display size; the long side may be either
    max_height: int | None
    aspect: tuple[int, int] | None  # (9, 16) makes the output portrait 9:16
    loudness_lufs: float = -14.0
    description: str = ""


PRESETS: dict[str, Preset] = {
    "telegram": Preset("telegram", 50 * 1000 * 1000, 1080, 1920, None, -14.0,
                       "under the Bot API's 50 MB, up to 1080x1920"),
    "discord": Preset("discord", 10 * 1024 * 1024, 1080, 1920, None, -14.0,
                      "under Discord's default 10 MiB attachment limit"),
    "tiktok": Preset("tiktok", 287 * 1024 * 1024, 1080, 1920, (9, 16), -14.0, "9:16, 1080x1920"),
    "reels": Preset("reels", 250 * 1000 * 1000, 1080, 1920, (9, 16), -14.0, "9:16, 1080x1920"),
    "shorts": Preset("shorts", 256 * 1000 * 1000, 1080, 1920, (9, 16), -14.0, "9:16, 1080x1920"),
    "youtube": Preset("youtube", None, 3840, 3840, None, -14.0, "no size cap, up to 4K"),
}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name.lower().strip()]
    except KeyError:
        raise EngineError(f"Unknown platform '{name}'; choose one of: {', '.join(PRESETS)}.") from None
