"""Point discord.py at another Discord-compatible server: REST and the gateway both move.

discord.py builds every REST URL (bot calls and interaction webhooks alike) from the class
attribute `discord.http.Route.BASE`, so moving REST is process-wide: one Discord surface per
process. The gateway is different: `Client.connect()` goes straight to the public
`wss://gateway.discord.gg/` and never asks the API, so after login we ask the configured server
(`GET /gateway/bot`, the documented discovery call) and rewrite that one URL in this client's
websocket connect. Resume URLs come from the server's own READY event, so they already point there.
"""

from __future__ import annotations

import logging

import discord
import yarl
from discord.gateway import DiscordWebSocket

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
