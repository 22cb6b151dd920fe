"""The only place the backend calls the music engine, so its use is easy to see and to swap."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from engine.models import EditSpec, Summary, Title

__all__ = ["EditSpec", "Summary", "Title", "MusicWishes", "parse_music_wishes", "render", "EngineFailure"]


class EngineFailure(Exception):
    """A render failed; str() is a friendly line safe to show a user."""


@dataclass(frozen=True)
class MusicWishes:
    style: str | None = None
    mood: str | None = None
    tempo: float | None = None
    pace: str | None = None
    volume: float | None = None
    no_music: bool = False
    instruments: tuple[str, ...] = ()


def parse_music_wishes(text: str) -> MusicWishes:
    """What the words ask of the music (engine.styles.parse_prompt), as plain values."""
    from engine.styles import parse_prompt

    wishes = parse_prompt(text)
    return MusicWishes(
        style=getattr(wishes, "style", None),
        mood=getattr(wishes, "mood", None),
        tempo=getattr(wishes, "tempo", None),
        pace=getattr(wishes, "pace", None),
        volume=getattr(wishes, "volume", None),
        no_music=bool(getattr(wishes, "no_music", False)),
        instruments=tuple(getattr(wishes, "instruments", ()) or ()),
    )


def style_label(style: str) -> str:
    """The engine's display name for a style, or a tidy version of its key."""
    try:
        from engine import styles

        table = getattr(styles, "STYLES", {})
        entry = table.get(style) if isinstance(table, dict) else None
        label = getattr(entry, "label", None) or getattr(entry, "name", None)
        if isinstance(label, str) and label:
            return label
    except ImportError:
        pass
    return {"lofi": "Lo-fi", "edm": "EDM"}.get(style, style.replace("_", " ").replace("-", " ").title())


def render(spec: EditSpec, output: Path, progress: Callable[[str, float | None], None]) -> Summary:
    """Run the engine (blocking; call from a worker thread)."""
    from engine.errors import EngineError
    from engine.pipeline import make

    try:
        return make(spec, output, progress=progress)
    except EngineError as exc:
        raise EngineFailure(str(exc) or "The video could not be made.") from exc
