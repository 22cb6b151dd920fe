"""Logging that never prints a secret.

A filter on the root handlers replaces every known secret (and anything shaped like a bot token
or a Nemo token) with a mask, in the message, its arguments and any exception text.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import datetime, timezone
from typing import Iterable

# Shapes of secrets we may not know the value of: Telegram bot tokens (123456:ABC..., also
# URL-encoded as 123456%3AABC... in file-download URLs),
# Nemo user tokens (nmv_usr_...), claim tokens, Bearer headers, and Discord interaction tokens
# (in webhook and interaction-callback URLs, which discord.py logs at DEBUG).
_SECRET_SHAPES = re.compile(
    r"((?<![0-9])\d{6,12}(?::|%3[Aa])[A-Za-z0-9_-]{30,}|nmv_usr_[A-Za-z0-9_-]+|clm_[A-Za-z0-9_-]+|(?<=Bearer )[A-Za-z0-9._~+/=-]+"
    r"|(?<=/webhooks/)(?:\d+/)[A-Za-z0-9._-]{20,}|(?<=/interactions/)(?:\d+/)[A-Za-z0-9._-]{20,})"
)
MASK = "***"


class SecretFilter(logging.Filter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        self._secrets.update(s for s in secrets if s and len(s) >= 4)

    def redact(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        return _SECRET_SHAPES.sub(MASK, text)

    def filter(self, record: logging.LogRecord) -> bool:
        # Render the message once, redact it, and drop the args so nothing re-renders them.
        record.msg = self.redact(record.getMessage())
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            formatted = logging.Formatter().formatException(record.exc_info)
            record.exc_text = self.redact(formatted)
            record.exc_info = None
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        for name in _extra_fields(record):  # fields passed with `extra=` are logged too
            value = record.__dict__[name]
            if not isinstance(value, (bool, int, float, type(None))):  # objects are logged as masked text
                record.__dict__[name] = self.redact(value if isinstance(value, str) else str(value))
        return True


# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def _extra_fields(record: logging.LogRecord) -> list[str]:
    return [name for name in record.__dict__ if name not in _STANDARD_FIELDS and not name.startswith("_")]


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (ISO 8601, UTC), level, logger, message, then `extra=`
    fields, the traceback as one string, and the stack when asked for. Newlines inside stay
    escaped, so a log shipper never splits a record."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _extra_fields(record):
            payload.setdefault(name, record.__dict__[name])
        if record.exc_info and not record.exc_text:  # a handler without the secret filter
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            payload["exception"] = record.exc_text
        if record.stack_info:
            payload["stack"] = record.stack_info
        return json.dumps(payload, ensure_ascii=False, default=str)


_filter = SecretFilter()


def _log_uncaught(kind, error, traceback) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, error, traceback)
        return
    logging.getLogger("aiwm").critical("the bot stopped on an unexpected error", exc_info=(kind, error, traceback))


def secret_filter() -> SecretFilter:
    return _filter


def setup_logging(level: str = "INFO", fmt: str = "text", secrets: Iterable[str] = ()) -> None:
    _filter.add(secrets)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_filter)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Python warnings and a crash's traceback go through the same handler (masked; one JSON
    # object in json mode) instead of bare text on stderr.
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    # httpx logs every request URL at INFO, and Telegram URLs carry the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
