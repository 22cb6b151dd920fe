"""The session's edit and the draft JSON the API shows for it.

A session keeps a small *edit* (which uploads, trim window, music, titles); the draft is built
from it on every read, so links in it always carry the server's current address. Draft shape
(the shared client/backend convention):

    {"t": [track...], "d": total_ms, "m": {"title", "width", "height"}}
    track   = {"tt": 0 video | 1 music | 7 title, "sg": [segment...]}
    segment = {"s": start_ms, "d": dur_ms, "m": {...}}
    video m = {"name", "cdn_url", "in": source_start_ms}
    music m = {"label", "style", "mood", "tempo", "key", "mode", "seed", "volume", "auto"}
    title m = {"text"}
"""

from __future__ import annotations

VIDEO, MUSIC, TITLE = 0, 1, 7


def new_edit() -> dict:
    return {"videos": [], "trim_start": 0.0, "trim_end": None, "music": None, "titles": []}


def source_duration(edit: dict, uploads: dict[str, dict]) -> float:
    return sum(uploads[v]["duration"] or 0.0 for v in edit["videos"] if v in uploads)


def trim_window(edit: dict, uploads: dict[str, dict]) -> tuple[float, float]:
    total = source_duration(edit, uploads)
    start = min(max(edit.get("trim_start") or 0.0, 0.0), total)
    end = edit.get("trim_end")
    end = total if end is None else min(max(end, start), total)
    return start, end


def build_draft(edit: dict, uploads: dict[str, dict], base_url: str, title: str) -> dict:
    start, end = trim_window(edit, uploads)
    length_ms = _ms(end - start)
    video_segments, offset, width, height = [], 0.0, None, None
    for upload_id in edit["videos"]:
        upload = uploads.get(upload_id)
        if not upload:
            continue
        width, height = width or upload.get("width"), height or upload.get("height")
        dur = upload["duration"] or 0.0
        lo, hi = max(offset, start), min(offset + dur, end)
        if hi > lo:
            video_segments.append({"s": _ms(lo - start), "d": _ms(hi - lo), "m": {
                "name": upload["filename"], "cdn_url": base_url + upload["cdn_path"], "in": _ms(lo - offset)}})
        offset += dur
    tracks = [{"tt": VIDEO, "sg": video_segments}] if video_segments else []
    music = edit.get("music")
    if music and video_segments:
        m = {k: v for k, v in music.items() if v is not None and k != "prompt"}
        tracks.append({"tt": MUSIC, "sg": [{"s": 0, "d": length_ms, "m": m}]})
    titles = []
    for item in edit.get("titles", []):
        s = _ms(item["start"])
        if video_segments and s < length_ms:
            titles.append({"s": s, "d": min(_ms(item["duration"]), length_ms - s), "m": {"text": item["text"]}})
    if titles:
        tracks.append({"tt": TITLE, "sg": titles})
    meta = {"title": title}
    if width:
        meta.update(width=width, height=height)
    return {"t": tracks, "d": length_ms if video_segments else 0, "m": meta}


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))
