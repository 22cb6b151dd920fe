"""Point discord.py at another Discord-compatible server: REST and the gateway both move.

discord.py builds every REST URL (bot calls and interaction webhooks alike) from the class
attribute `discord.http.Route.BASE`, so moving REST is process-wide: one Discord surface per
process. The gateway is different: `Client.connect()` goes straight to the public
`wss://gateway.discord.gg/` and never asks the API, so after login we ask the configured server
(`GET /gateway/bot`, the documented discovery call) and rewrite that one URL in this client's
websocket connect. Resume URLs come from the server's own READY event, so they already point there.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import discord
import yarl
from discord.gateway import DiscordWebSocket

from core.metrics import PLATFORM_RETRIES
from core.retry import NETWORK, RATE_LIMITED, SERVER_ERROR, Retryable

log = logging.getLogger(__name__)

API_VERSION = 10


def normalise_api_url(api_url: str) -> str:
    """"http://host:port" or ".../api" or ".../api/v10" -> ".../api/v10" without a trailing slash."""
    url = api_url.rstrip("/")
    if url.endswith("/api"):
        url += f"/v{API_VERSION}"
    elif "/api/v" not in url:
        url += f"/api/v{API_VERSION}"
    return url


class RestTarget:
    """Moves Route.BASE for the life of a surface and puts the old value back on release."""

    def __init__(self, api_url: str | None) -> None:
        self.base = normalise_api_url(api_url) if api_url else None
        self._previous: str | None = None

    def apply(self) -> None:
        if self.base is None:
            return
        self._previous = discord.http.Route.BASE
        discord.http.Route.BASE = self.base

    def release(self) -> None:
        if self.base is not None and self._previous is not None:
            discord.http.Route.BASE = self._previous
            self._previous = None


async def redirect_gateway(client: discord.Client) -> str:
    """Ask the configured server where its gateway is and send this client's websocket there."""
    _shards, url, _limits = await client.http.get_bot_gateway()
    gateway = yarl.URL(url)
    default_host = DiscordWebSocket.DEFAULT_GATEWAY.host
    http = client.http
    original = http.ws_connect

    async def ws_connect(target: str, *, compress: int = 0):
        wanted = yarl.URL(target)
        if wanted.host == default_host:
            # Keep discord.py's query (version, encoding, compression), swap the place.
            wanted = gateway.with_query(wanted.query)
        return await original(str(wanted), compress=compress)

    http.ws_connect = ws_connect  # type: ignore[method-assign]
    log.info("discord gateway: %s", gateway.with_query(None))
    return str(gateway)


# --- retries -------------------------------------------------------------------------------------
#
# discord.py retries by itself: a 429 (when Discord's `Via` header is there) after retry_after, up
# to 5 tries; a 5xx after 1, 3, 5, 7 s; a connection reset only on BSD/Windows errno values (never on
# Linux). It gives up on a dropped connection at once and on anything after 5 tries. The reply port
# retries those give-ups itself (core.retry), re-creating the discord.File each time, because
# discord.py closes the file after a request.


def classify(error: BaseException) -> Retryable | None:
    """Whether a failed Discord call may be retried: only when Discord provably did not act on it
    (a 429, a 5xx, or a connection that ended before any answer). A read timeout is not retried:
    the whole upload arrived and may have been posted, and a webhook has no idempotency key."""
    if isinstance(error, discord.RateLimited):
        return Retryable(RATE_LIMITED, float(error.retry_after))
    if isinstance(error, discord.HTTPException):
        if error.status == 429:
            return Retryable(RATE_LIMITED, _retry_after(error))
        if error.status >= 500:
            return Retryable(SERVER_ERROR)
        return None
    if isinstance(error, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
        return None
    if isinstance(error, (aiohttp.ClientConnectionError, ConnectionError)):
        return Retryable(NETWORK)  # disconnected / reset / refused before an answer
    return None


def _retry_after(error: discord.HTTPException) -> float | None:
    headers = getattr(getattr(error, "response", None), "headers", None) or {}
    try:
        return float(headers.get("Retry-After")) if headers.get("Retry-After") else None
    except ValueError:
        return None


class _CountLibraryRetries(logging.Filter):
    """discord.py's own 429 retries show only as a log line; count them as retries too."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "rate limited" in str(record.msg) and "Retrying in" in str(record.msg):
            PLATFORM_RETRIES.labels(surface="discord", reason=RATE_LIMITED).inc()
        return True


_COUNTER = _CountLibraryRetries()


def count_library_retries() -> None:
    """Install the counter on discord.py's REST loggers (idempotent)."""
    for name in ("discord.http", "discord.webhook.async_"):
        logger = logging.getLogger(name)
        if _COUNTER not in logger.filters:
            logger.addFilter(_COUNTER)
