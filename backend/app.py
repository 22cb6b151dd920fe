"""The local Nemo-compatible backend as an aiohttp application.

Endpoints (nemo-api.md): anonymous token, claim token, session, upload (multipart `files` or
`{"urls": [...]}`), credits, state, /run_sse, render proxy (submit, poll, cancel, download), the
files behind `cdn_url` and `outputUrl`, and, in test mode, /_test/faults and /_test/requests.

Errors: envelope codes 1001 (token), 1002 (session), 2001 (credits), 4001/4002 (upload type,
size) and 4003 (a link could not be downloaded, local addition) travel with HTTP 200 by default
(BackendConfig.business_error_status); 400, 402, 404, 409, 422 and 429 are real HTTP statuses.
"""

from __future__ import annotations

import json
import logging
import time

import aiohttp
from aiohttp import web

from backend import routes_api, routes_chat, routes_render, routes_test
from backend.config import BackendConfig
from backend.context import KEY, Backend
from backend.errors import ApiError

log = logging.getLogger(__name__)
_JSON_BODY_PATHS = ("/run_sse", "/api/render/proxy/lambda", "/api/auth/claim-token")
_HTTP_CODES = {400, 402, 404, 409, 422, 429}


def create_app(config: BackendConfig) -> web.Application:
    backend = Backend(config)
    app = web.Application(client_max_size=64 * 1024**2, middlewares=[_middleware])
    app[KEY] = backend
    app.add_routes(routes_api.routes)
    app.add_routes(routes_chat.routes)
    app.add_routes(routes_render.routes)
    if config.test_mode:
        app.add_routes(routes_test.routes)
    app.on_startup.append(_startup)
    app.on_cleanup.append(_cleanup)
    return app


async def _startup(app: web.Application) -> None:
    app[KEY].http = aiohttp.ClientSession()


async def _cleanup(app: web.Application) -> None:
    await app[KEY].close()


async def _session_of(request: web.Request, backend: Backend) -> str | None:
    sid = request.match_info.get("sid")
    if sid:
        return sid
    rid = request.match_info.get("rid")
    if rid:
        record = backend.store.get("renders", rid)
        return record["session_id"] if record else None
    if request.method == "POST" and request.path in _JSON_BODY_PATHS and request.body_exists:
        try:
            body = json.loads(await request.read())  # cached: the handler reads it again for free
        except (ValueError, UnicodeDecodeError):
            return None
        if isinstance(body, dict):
            value = body.get("session_id") or body.get("sessionId")
            return value if isinstance(value, str) else None
    return None


@web.middleware
async def _middleware(request: web.Request, handler):
    backend: Backend = request.app[KEY]
    if request.path.startswith("/_test/"):
        return await handler(request)
    sid = await _session_of(request, backend)
    backend.log_request({"method": request.method, "path": request.path, "session_id": sid,
                          "time": time.time()})
    retry_after = backend.faults.consume("rate_limit", sid)
    if retry_after is not None:
        return ApiError(429, f"Too many requests; try again in {retry_after} s.", status=429,
                        headers={"Retry-After": str(retry_after)}).response()
    try:
        return await handler(request)
    except ApiError as exc:
        if exc.envelope != "adk" and exc.status == 200 and exc.code not in _HTTP_CODES:
            exc.status = backend.config.business_error_status
        return exc.response()
    except web.HTTPException:
        raise
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return ApiError(500, "Something went wrong on the server.", status=500).response()
