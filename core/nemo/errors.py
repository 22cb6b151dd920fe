"""Typed backend errors with the backend's code and one plain line a user may see.

An error can arrive as an HTTP status, an envelope `code`, `success:false` + `error`, or a
FastAPI `{"detail": ...}` (nemo-api.md §10); `error_from_response` checks all four. Messages
never contain a token: the backend's own text is passed through `scrub` first.
"""

from __future__ import annotations

import re
from typing import Any

# Anything shaped like a Nemo token or claim token (nemo-api.md §3.4), or a bearer header.
_SECRET = re.compile(r"(nmv_[A-Za-z0-9_\-]+|clm_[A-Za-z0-9_\-]+|Bearer\s+\S+)")


def scrub(text: Any, limit: int = 300) -> str:
    """A single line of backend text with token-shaped strings masked."""
    line = " ".join(str(text).split())
    line = _SECRET.sub("***", line)
    return line if len(line) <= limit else line[: limit - 1] + "…"


class NemoError(Exception):
    """Base of every client error. `code` is the backend code (or HTTP status)."""

    code: int | None = None
    default_message = "The video service could not do that."

    def __init__(self, user_message: str | None = None, *, code: int | None = None,
                 detail: str | None = None) -> None:
        self.user_message = scrub(user_message) if user_message else self.default_message
        if code is not None:
            self.code = code
        self.detail = scrub(detail) if detail else None  # backend text, for logs
        super().__init__(self.user_message)


class TokenExpired(NemoError):
    code = 1001
    default_message = "The video service session expired; please try again."


class TokenInvalid(NemoError):
    """The token was refused (1010, 1011 or HTTP 401, per the mega-x CLI)."""

    code = 401
    default_message = "The video service did not accept our sign-in."


class AuthRejected(TokenExpired, TokenInvalid):
    """The operator's fixed token (NEMO_TOKEN) was refused: the client cannot renew it itself.

    A subclass of both refusals, so code that handles either still does; `code` stays the
    backend's own (1001, 1010, 1011 or 401).
    """

    code = 401
    default_message = "The video service did not accept the bot's credentials."


class NoCredits(NemoError):
    code = 2001
    default_message = "You are out of credits for the video service."

    def __init__(self, user_message: str | None = None, *, code: int | None = None,
                 detail: str | None = None, register_url: str | None = None) -> None:
        self.register_url = register_url
        if register_url and not user_message:
            user_message = f"You are out of free credits. Register to get more: {register_url}"
        super().__init__(user_message, code=code, detail=detail)


class UnsupportedFile(NemoError):
    code = 4001
    default_message = "That file type is not supported; please send a video, picture or audio file."


class FileTooLarge(NemoError):
    code = 4002
    default_message = "That file is too large for the video service."


class BadRequest(NemoError):
    code = 400
    default_message = "The video service could not understand the request."


class PaymentRequired(NemoError):
    code = 402
    default_message = "Exporting needs a paid plan or more credits."


class SessionNotFound(NemoError):
    """The backend session is gone (envelope 1002 or ADK's HTTP 404): make a new one."""

    code = 404
    default_message = "The editing session was lost; starting a new one."


class ValidationFailed(NemoError):
    code = 422
    default_message = "The video service rejected the request."


class RateLimited(NemoError):
    code = 429
    default_message = "The video service is busy; please try again in a minute."

    def __init__(self, user_message: str | None = None, *, code: int | None = None,
                 detail: str | None = None, retry_after: float = 30.0) -> None:
        self.retry_after = retry_after
        super().__init__(user_message, code=code, detail=detail)


class RenderFailed(NemoError):
    code = None
    default_message = "The video could not be rendered."


class BackendUnavailable(NemoError):
    """Network failure, or a 5xx: the backend could not be reached or answered with a fault."""

    code = None
    default_message = "The video service is not reachable right now; please try again later."


_BY_CODE: dict[int, type[NemoError]] = {
    1001: TokenExpired,
    1002: SessionNotFound,
    1010: TokenInvalid,
    1011: TokenInvalid,
    2001: NoCredits,
    4001: UnsupportedFile,
    4002: FileTooLarge,
}
_BY_STATUS: dict[int, type[NemoError]] = {
    400: BadRequest,
    401: TokenInvalid,
    402: PaymentRequired,
    404: SessionNotFound,
    422: ValidationFailed,
    429: RateLimited,
}


def error_from_response(status: int, body: Any, headers: Any = None) -> NemoError | None:
    """The error a response stands for, or None when it is a success.

    Order: an envelope `code` (more specific than the status), `success:false`, the HTTP status
    (with `detail` or `message` as text).
    """
    envelope_code = body.get("code") if isinstance(body, dict) else None
    text = _message_of(body)
    if isinstance(envelope_code, int) and not isinstance(envelope_code, bool) and envelope_code != 0:
        return _make(_BY_CODE.get(envelope_code) or _BY_STATUS.get(envelope_code), envelope_code, text, headers,
                     body)
    if status < 300 and isinstance(body, dict) and body.get("success") is False:
        return NemoError(None, detail=text)
    if status < 300:
        return None
    if status >= 500:
        return BackendUnavailable(None, code=status, detail=text)
    return _make(_BY_STATUS.get(status), status, text, headers, body)


def _make(cls: type[NemoError] | None, code: int, text: str | None, headers: Any, body: Any = None) -> NemoError:
    if cls is RateLimited:
        return RateLimited(None, code=code, detail=text, retry_after=retry_after_of(headers))
    if cls is None:
        return NemoError(None, code=code, detail=text)
    if cls is NoCredits:
        data = body.get("data") if isinstance(body, dict) and isinstance(body.get("data"), dict) else {}
        link = data.get("register_url")
        return NoCredits(None, code=code, detail=text, register_url=link if isinstance(link, str) else None)
    return cls(None, code=code, detail=text)


def retry_after_of(headers: Any, default: float = 30.0) -> float:
    """Seconds from a Retry-After header (delta-seconds only; an HTTP date falls back to default)."""
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return max(0.0, float(value)) if value is not None else default
    except ValueError:
        return default


def _message_of(body: Any) -> str | None:
    if isinstance(body, str):
        return body or None
    if not isinstance(body, dict):
        return None
    detail = body.get("detail")
    if isinstance(detail, list):  # FastAPI validation: [{"loc": [...], "msg": "...", ...}]
        msgs = []
        for item in detail:
            if isinstance(item, dict):
                loc = ".".join(str(x) for x in item.get("loc") or [])
                msgs.append(f"{loc}: {item.get('msg')}" if loc else str(item.get("msg")))
        return "; ".join(msgs) or None
    for key in ("message", "error", "detail", "msg"):
        value = body.get(key)
        if isinstance(value, dict):
            value = value.get("message") or value.get("detail")
        if value:
            return str(value)
    return None
