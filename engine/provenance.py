"""Provenance written into the MP4: the soundtrack is an original composition made by this engine.

A creator facing a copyright claim can show the file's own metadata: which engine version made
the music, in which style, tempo and key, from which seed (the same seed makes the same music).
"""

from __future__ import annotations

import json
from pathlib import Path

import av

TOOL = "AI With Music"
_MARK = "aiwm:"


def provenance_tags(*, style: str, tempo: float, key: str, mode: str, seed: int, engine_version: str) -> dict[str, str]:
    facts = {"engine": f"{TOOL} {engine_version}", "style": style, "tempo_bpm": round(float(tempo), 2),
             "key": f"{key} {mode}", "seed": seed, "music": "original composition"}
    statement = (f"Music: an original composition made by the {TOOL} engine {engine_version} "
                 f"(style {style}, {round(float(tempo))} BPM, {key} {mode}, seed {seed}). "
                 "No third-party recordings were used.")
    return {
        "comment": statement,
        "description": _MARK + json.dumps(facts, ensure_ascii=False, sort_keys=True),
        "composer": f"{TOOL} engine {engine_version}",
    }


def read_provenance(path: Path | str) -> dict | None:
    """The facts written by `provenance_tags`, or None when the file carries none."""
    try:
        with av.open(str(path)) as container:
            tags = {k.lower(): v for k, v in container.metadata.items()}
    except (av.error.FFmpegError, OSError):
        return None
    description = tags.get("description", "")
    if not description.startswith(_MARK):
        return None
    try:
        return json.loads(description[len(_MARK):])
    except ValueError:
        return None
