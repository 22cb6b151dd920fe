"""Read a backend draft as people would describe it: a timeline summary and what changed.

The draft format is only partly documented (nemo-api.md §7.2: `t` tracks, `tt` type, `sg`
segments, `d` duration in ms, `m` metadata), so everything here is read tolerantly: unknown
track types are named generically and missing fields fall back to sensible words.
"""

from __future__ import annotations

from dataclasses import dataclass

TRACK_VIDEO, TRACK_AUDIO, TRACK_TITLE = 0, 1, 7


@dataclass(frozen=True)
class Item:
    """One thing on the timeline, reduced to what a person cares about."""

    kind: str  # "video", "music", "title", "audio", "track"
    label: str
    start: float  # seconds
    end: float
    volume: float | None = None  # 0..1 for music

    def describe(self, lang: str = "en") -> str:
        span = f"{_secs(self.start)}–{_secs(self.end)}s"
        kind = _KIND_WORDS.get(self.kind, {}).get(lang) or self.kind.capitalize()
        if self.kind == "title":
            return f"{kind}: '{self.label}' ({span})"
        if self.volume is not None:
            return f"{kind}: {self.label} ({span}, {round(self.volume * 100)}%)"
        return f"{kind}: {self.label} ({span})"


_KIND_WORDS = {
    "video": {"en": "Video", "zh": "视频"},
    "music": {"en": "BGM", "zh": "背景音乐"},
    "title": {"en": "Title", "zh": "标题"},
    "audio": {"en": "Audio", "zh": "音频"},
    "track": {"en": "Track", "zh": "轨道"},
}


def _secs(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _number(value: object, default: float = 0.0) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default


def items(draft: dict | None) -> list[Item]:
    """Flatten a draft into timeline items, in track order then by start time."""
    if not isinstance(draft, dict):
        return []
    result: list[Item] = []
    for track in draft.get("t") or []:
        if not isinstance(track, dict):
            continue
        track_type = track.get("tt")
        for segment in track.get("sg") or []:
            if isinstance(segment, dict):
                result.append(_item(track_type, segment))
    return result


def _item(track_type: object, segment: dict) -> Item:
    meta = segment.get("m") if isinstance(segment.get("m"), dict) else {}
    start = _number(segment.get("s")) / 1000
    end = start + _number(segment.get("d")) / 1000
    if track_type == TRACK_VIDEO:
        label = str(meta.get("label") or meta.get("name") or meta.get("title") or "clip")
        return Item("video", label, start, end)
    if track_type == TRACK_AUDIO:
        label = str(meta.get("label") or meta.get("style") or meta.get("name") or "music")
        volume = meta.get("volume")
        return Item("music", label, start, end, _number(volume) if volume is not None else None)
    if track_type == TRACK_TITLE:
        return Item("title", str(meta.get("text") or meta.get("title") or ""), start, end)
    return Item("track", str(meta.get("label") or meta.get("name") or track_type), start, end)


def summary(draft: dict | None, lang: str = "en") -> list[str]:
    """Numbered lines such as "1. Video: city timelapse (0–10s)"."""
    return [f"{n}. {item.describe(lang)}" for n, item in enumerate(items(draft), start=1)]


def has_content(draft: dict | None) -> bool:
    """Ready for export: at least one track with a non-empty segment list (nemo-api.md §7.2)."""
    return bool(items(draft))


def diff(before: dict | None, after: dict | None, lang: str = "en") -> list[str]:
    """What changed between two drafts, as short lines ("+ BGM: Lo-fi (0–10s, 35%)")."""
    old = [item.describe(lang) for item in items(before)]
    new = [item.describe(lang) for item in items(after)]
    removed = [line for line in old if line not in new]
    added = [line for line in new if line not in old]
    lines = [f"− {line}" for line in removed] + [f"+ {line}" for line in added]
    if not lines:
        old_d, new_d = _duration(before), _duration(after)
        if old_d is not None and new_d is not None and abs(old_d - new_d) > 0.05:
            word = "时长" if lang == "zh" else "Length"
            lines.append(f"{word}: {_secs(old_d)}s → {_secs(new_d)}s")
    return lines


def _duration(draft: dict | None) -> float | None:
    if isinstance(draft, dict) and draft.get("d") is not None:
        return _number(draft.get("d")) / 1000
    return None
