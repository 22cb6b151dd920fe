"""Run the backend in-process: `async with LocalBackend(config) as b: ... b.url ...`."""

from __future__ import annotations

from aiohttp import web

from backend.app import create_app
from backend.config import BackendConfig


class LocalBackend:
    def __init__(self, config: BackendConfig) -> None:
        self.config = config
        self.url: str | None = None
        self.app: web.Application | None = None
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        self.app = create_app(self.config)
        # Short shutdown timeout: open SSE streams must not hold a stop for a minute.
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port)
        await site.start()
        port = self._runner.addresses[0][1]
        host = "127.0.0.1" if self.config.host in ("0.0.0.0", "127.0.0.1", "") else self.config.host
        self.url = f"http://{host}:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> "LocalBackend":
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()
