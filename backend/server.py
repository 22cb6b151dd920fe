"""Run the backend in-process: `async with LocalBackend(config) as b: ... b.url ...`.

Besides serving the app it runs the retention janitor (backend/janitor.py), stamps each
session's last use for it, and applies the `response_delay` test fault to every answer.
"""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from backend.app import create_app
from backend.config import BackendConfig
from backend.context import KEY
from backend.janitor import Janitor, Retention


_SID_IN_BODY = ("/run_sse", "/api/render/proxy/lambda")


def _sid_of_body(raw: bytes) -> str | None:
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    value = (body.get("session_id") or body.get("sessionId")) if isinstance(body, dict) else None
    return value if isinstance(value, str) else None


class LocalBackend:
    def __init__(self, config: BackendConfig, retention: Retention | None = None) -> None:
        self.config = config
        self.retention = retention or Retention()
        self.url: str | None = None
        self.app: web.Application | None = None
        self.janitor: Janitor | None = None
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        self.app = create_app(self.config)
        self.janitor = Janitor(self.app[KEY], self.retention)
        self.app.on_response_prepare.append(self._before_answer)
        # Short shutdown timeout: open SSE streams must not hold a stop for a minute.
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port)
        await site.start()
        port = self._runner.addresses[0][1]
        host = "127.0.0.1" if self.config.host in ("0.0.0.0", "127.0.0.1", "") else self.config.host
        self.url = f"http://{host}:{port}"
        self.janitor.start()
        return self.url

    async def stop(self) -> None:
        if self.janitor is not None:
            await self.janitor.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _before_answer(self, request: web.Request, response: web.StreamResponse) -> None:
        if request.path.startswith("/_test/"):
            return
        backend = request.app[KEY]
        sid = request.match_info.get("sid")
        rid = request.match_info.get("rid")
        if not sid and rid:
            record = backend.store.get("renders", rid)
            sid = record["session_id"] if record else None
        if not sid and request.method == "POST" and request.path in _SID_IN_BODY and request.body_exists:
            sid = _sid_of_body(await request.read())  # the handler already read it: cached
        self.janitor.touch(sid)
        delay = backend.faults.get(sid).get("response_delay")
        if delay:
            await asyncio.sleep(float(delay))

    async def __aenter__(self) -> "LocalBackend":
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()
