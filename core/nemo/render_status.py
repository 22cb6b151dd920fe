"""Reading a render-poll response tolerantly (nemo-api.md §8.2).

Two documented shapes disagree: `{"success":true,"data":{"status","progress","outputUrl"}}` and a
top-level `status` with `output.url`. Status, URL and progress are read from every documented
place; progress may be a fraction (<= 1) or a percent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DONE = "completed"
FAILED = "failed"
RUNNING = "processing"
PENDING = "pending"

_STATUS_WORDS = {
    "completed": DONE, "complete": DONE, "done": DONE, "success": DONE, "succeeded": DONE,
    "finished": DONE, "failed": FAILED, "failure": FAILED, "error": FAILED, "cancelled": FAILED,
    "canceled": FAILED, "pending": PENDING, "queued": PENDING, "submitted": PENDING,
    "processing": RUNNING, "rendering": RUNNING, "running": RUNNING, "in_progress": RUNNING,
}


@dataclass(frozen=True)
class RenderPoll:
    status: str  # one of DONE, FAILED, RUNNING, PENDING
    progress: float | None  # 0..1
    output_url: str | None
    error: str | None
    percent_scale: bool = False  # the progress value was clearly a percent (> 1)


def read_poll(body: Any, percent_seen: bool = False) -> RenderPoll:
    """percent_seen: an earlier poll of this render sent a percent, so a later 1 means 1%."""
    body = body if isinstance(body, dict) else {}
    data = body.get("data") if isinstance(body.get("data"), dict) else {}
    raw_status = _pick(data, body, "status")
    status = _STATUS_WORDS.get(str(raw_status).strip().lower(), RUNNING) if raw_status is not None else RUNNING
    url = (_str(data.get("outputUrl")) or _str(body.get("outputUrl")) or _url_in(body.get("output"))
           or _url_in(data.get("output")) or _str(data.get("output_url")) or _str(body.get("output_url"))
           or _str(data.get("outputFile")))
    if status != FAILED and url and raw_status is None:
        status = DONE  # a URL and no status: it is finished
    if data.get("done") is True and url:
        status = DONE
    if data.get("fatalErrorEncountered") is True:
        status = FAILED
    error = _pick(data, body, "error")
    if isinstance(error, dict):
        error = error.get("message") or error.get("detail")
    if isinstance(error, list):  # Remotion-like errors[]
        error = "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in error) or None
    progress, percent = _progress(data, body, percent_seen, status)
    return RenderPoll(status, progress, url, str(error) if error else None, percent)


def _progress(data: dict, body: dict, percent_seen: bool, status: str) -> tuple[float | None, bool]:
    overall = data.get("overallProgress")
    if isinstance(overall, (int, float)) and not isinstance(overall, bool):
        return max(0.0, min(1.0, float(overall))), False
    value = _pick(data, body, "progress")
    if isinstance(value, str):
        try:
            value = float(value.rstrip("%"))
        except ValueError:
            return None, percent_seen
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None, percent_seen
    # A fraction is <= 1; but a JSON integer 1 on an unfinished render is 1 %, not 100 %.
    percent = percent_seen or value > 1.0 or (isinstance(value, int) and value == 1 and status != DONE)
    value = float(value)
    fraction = value / 100.0 if percent else value
    return max(0.0, min(1.0, fraction)), percent


def _pick(data: dict, body: dict, key: str) -> Any:
    return data[key] if data.get(key) is not None else body.get(key)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _url_in(value: Any) -> str | None:
    return _str(value.get("url")) if isinstance(value, dict) else None
