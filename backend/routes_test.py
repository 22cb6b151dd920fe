"""Test-only endpoints: fault switches and the request log (BackendConfig.test_mode)."""

from __future__ import annotations

from aiohttp import web

from backend.context import backend_of
from backend.faults import KNOWN_FAULTS

routes = web.RouteTableDef()


@routes.post("/_test/faults")
async def set_faults(request: web.Request) -> web.Response:
    b = backend_of(request)
    try:
        body = await request.json()
        if not isinstance(body, dict) or not isinstance(body.get("faults"), dict):
            raise ValueError('send {"session_id"?: str, "faults": {...}}')
        b.faults.set(body["faults"], body.get("session_id"))
    except ValueError as exc:
        return web.json_response({"ok": False, "error": str(exc), "known": KNOWN_FAULTS}, status=400)
    return web.json_response({"ok": True, **b.faults.snapshot()})


@routes.delete("/_test/faults")
async def clear_faults(request: web.Request) -> web.Response:
    b = backend_of(request)
    b.faults.clear(request.query.get("session_id"))
    return web.json_response({"ok": True, **b.faults.snapshot()})


@routes.get("/_test/faults")
async def list_faults(request: web.Request) -> web.Response:
    return web.json_response({"known": KNOWN_FAULTS, **backend_of(request).faults.snapshot()})


@routes.get("/_test/requests")
async def requests_log(request: web.Request) -> web.Response:
    return web.json_response({"requests": backend_of(request).request_log})


@routes.delete("/_test/requests")
async def clear_requests(request: web.Request) -> web.Response:
    backend_of(request).request_log.clear()
    return web.json_response({"ok": True})
