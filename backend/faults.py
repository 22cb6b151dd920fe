"""Fault switches for tests (only reachable when BackendConfig.test_mode is on).

POST /_test/faults {"session_id"?: str, "faults": {...}} merges switches globally or for one
session; DELETE /_test/faults (optionally ?session_id=) clears them. Session switches override
global ones. One-shot switches (expired_token, lost_session, rate_limit, poll_error) are used up when
they fire.
"""

from __future__ import annotations

import threading

HEARTBEAT_STYLES = ("comment", "empty", "word", "event", "json", "none")

# name -> short description (also returned by GET /_test/faults)
KNOWN_FAULTS = {
    "heartbeat": f"heartbeat wire form: one of {', '.join(HEARTBEAT_STYLES)}",
    "heartbeat_interval": "seconds between heartbeats while a turn works",
    "turn_delay": "seconds the agent 'works' before answering (heartbeats flow meanwhile)",
    "progress_ticks": "seconds (or true = 1): while a turn works, a timestamped function call every so often instead of a heartbeat (bench/load.py)",
    "silent": "true: turns send function call/response but no text",
    "partial": "true: text streams as partial deltas, then the aggregate (as streaming:true)",
    "stream_error": "message (or true): an in-stream {\"error\": ...} frame ends the turn, nothing changes",
    "stream_error_form": "\"json\" (default) or \"fstring\" (old ADK, may be invalid JSON)",
    "cut_stream": "true: the connection drops after the function call; the edit still happens",
    "temporary_issue": "true: the turn ends with the text 'I encountered a temporary issue'",
    "render_delay": "seconds a render waits (in processing) before the engine starts",
    "engine_stall": "seconds a render's engine step waits with its work folder made (a kill then leaves it behind)",
    "render_fail": "message (or true): renders fail with this error",
    "render_poll_shape": "\"nested\" (default {success,data:{status,outputUrl}}) or \"toplevel\" ({status,output:{url}})",
    "expired_token": "true: the next authenticated call answers 1001 and the token is revoked",
    "lost_session": "true: the next call naming the session finds it gone (404 / 1002)",
    "no_credits": "true: the account has 0 credits available (chargeable calls answer 2001)",
    "rate_limit": "n or {\"times\": n, \"retry_after\": s}: the next n calls answer 429",
    "response_delay": "seconds every answer waits before it starts (a slow backend; /_test/ is never slowed)",
    "upload_stall": "seconds an upload waits after its files arrived, before it is stored (a kill then leaves files but no record)",
    "poll_error": "n: the next n render polls answer 500, 502, 503 in turn (the render itself goes on)",
}
_ONE_SHOT = ("expired_token", "lost_session")
_POLL_ERRORS = (500, 502, 503)


class Faults:
    def __init__(self) -> None:
        self._global: dict = {}
        self._sessions: dict[str, dict] = {}
        self._lock = threading.Lock()

    def set(self, faults: dict, session_id: str | None = None) -> None:
        unknown = sorted(set(faults) - set(KNOWN_FAULTS))
        if unknown:
            raise ValueError(f"unknown fault(s): {', '.join(unknown)}")
        style = faults.get("heartbeat")
        if style is not None and style not in HEARTBEAT_STYLES:
            raise ValueError(f"heartbeat must be one of {', '.join(HEARTBEAT_STYLES)}")
        with self._lock:
            target = self._sessions.setdefault(session_id, {}) if session_id else self._global
            for name, value in faults.items():
                if name == "rate_limit":
                    value = _rate_limit(value)
                if value is None or value is False:
                    target.pop(name, None)
                else:
                    target[name] = value

    def clear(self, session_id: str | None = None) -> None:
        with self._lock:
            if session_id:
                self._sessions.pop(session_id, None)
            else:
                self._global.clear()
                self._sessions.clear()

    def get(self, session_id: str | None = None) -> dict:
        with self._lock:
            merged = dict(self._global)
            if session_id:
                merged.update(self._sessions.get(session_id, {}))
            return merged

    def snapshot(self) -> dict:
        with self._lock:
            return {"global": dict(self._global), "sessions": {k: dict(v) for k, v in self._sessions.items()}}

    def consume(self, name: str, session_id: str | None = None):
        """Use up a one-shot switch; returns its value, or None when it is not set."""
        with self._lock:
            for scope in ([self._sessions.get(session_id, {})] if session_id else []) + [self._global]:
                if name in scope:
                    if name in _ONE_SHOT:
                        return scope.pop(name)
                    if name == "poll_error":
                        left = int(scope[name])
                        if left <= 1:
                            scope.pop(name)
                        else:
                            scope[name] = left - 1
                        return _POLL_ERRORS[(left - 1) % len(_POLL_ERRORS)]
                    if name == "rate_limit":
                        spec = scope[name]
                        spec["times"] -= 1
                        if spec["times"] <= 0:
                            scope.pop(name)
                        return spec["retry_after"]
                    return scope[name]
        return None


def _rate_limit(value) -> dict | None:
    if value is None or value is False:
        return None
    if value is True:
        return {"times": 1, "retry_after": 30}
    if isinstance(value, int):
        return {"times": value, "retry_after": 30} if value > 0 else None
    if isinstance(value, dict):
        return {"times": int(value.get("times", 1)), "retry_after": int(value.get("retry_after", 30))}
    raise ValueError("rate_limit must be a count or {\"times\": n, \"retry_after\": s}")
