"""Webhook mode: a small aiohttp server Telegram posts updates to, instead of polling.

It listens on webhook_listen:webhook_port (put a TLS-terminating proxy in front; Telegram only
posts to HTTPS on ports 443, 80, 88 or 8443) and accepts only requests that carry the secret
token registered with setWebhook, so nobody else can inject updates.
"""

from __future__ import annotations

import hmac
import logging
from urllib.parse import urlparse

from aiohttp import web
from telegram.ext import Application

from adapters.telegram.updates import parse_update

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class WebhookServer:
    def __init__(self, application: Application, *, url: str, listen: str, port: int, secret: str) -> None:
        self._application = application
        self._path = urlparse(url).path or "/"
        self._listen = listen
        self._port = port
        self._secret = secret
        self._runner: web.AppRunner | None = None
        self.port: int | None = None  # the bound port (useful when port=0)

    async def start(self) -> None:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_post(self._path, self._receive)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._listen, self._port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        log.info("telegram webhook listening on %s:%s", self._listen, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _receive(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self._secret.encode()):
            return web.Response(status=403)
        try:
            data = await request.json()
        except ValueError as error:  # not JSON at all: not a Telegram update
            log.warning("telegram webhook got a body that is not JSON: %s", type(error).__name__)
            return web.Response(status=400)
        update = parse_update(data, self._application.bot)
        if update is not None:
            await self._application.update_queue.put(update)
        # An update we can't read is logged and answered 200 too, or Telegram would resend it.
        return web.Response(status=200)
