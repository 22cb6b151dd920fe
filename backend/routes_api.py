"""Main API endpoints ({code,message,data} envelope): auth, sessions, uploads, credits, state, claim."""

from __future__ import annotations

import asyncio
import html
import secrets
import time
from datetime import datetime, timezone

from aiohttp import web

from backend import accounts
from backend.context import backend_of
from backend.errors import ApiError, ok
from backend.uploads import fetch_url, receive_part

routes = web.RouteTableDef()
CLAIM_SECONDS = 7 * 86400


@routes.post("/api/auth/anonymous-token")
async def anonymous_token(request: web.Request) -> web.Response:
    b = backend_of(request)
    client_id = (request.headers.get("X-Client-Id") or "").strip()
    if not client_id:
        raise ApiError(400, "The X-Client-Id header is required.", status=400)
    if len(client_id) > 64:
        raise ApiError(400, "X-Client-Id must be at most 64 characters.", status=400)
    user, token = accounts.issue_token(b.store, client_id, b.config.start_credits, b.config.token_days)
    expires = datetime.fromtimestamp(token["expires_at"], tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return ok({"token": token["token"], "user_id": user["user_id"], "expires_at": expires,
               "credits": b.available_credits(user)})


@routes.post("/api/tasks/me/with-session/nemo_agent")
async def create_session(request: web.Request) -> web.Response:
    b = backend_of(request)
    user = b.authenticate(request)
    body = await _json_or_empty(request)
    session = b.create_session(user, body.get("language"), str(body.get("task_name") or "project"))
    return ok({"task_id": session["task_id"], "session_id": session["session_id"], "user_id": user["user_id"]})


@routes.post("/api/upload-video/nemo_agent/me/{sid}")
async def upload(request: web.Request) -> web.Response:
    b = backend_of(request)
    sid = request.match_info["sid"]
    user = b.authenticate(request, sid)
    session = b.session(user, sid)
    cap = b.config.upload_max_bytes
    received: list[dict] = []
    try:
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            async for part in reader:
                if part.name != "files" or not part.filename:
                    continue
                received.append(await receive_part(part, b.uploads_dir, sid, cap))
        else:
            body = await _json_or_empty(request)
            urls = body.get("urls") or []
            if not isinstance(urls, list):
                raise ApiError(4003, "“urls” must be a list of links.")
            for url in urls:
                received.append(await fetch_url(b.http, str(url), b.uploads_dir, sid, cap,
                                                b.config.url_fetch_timeout))
    except BaseException:
        _forget(received)  # all or nothing: a refused file drops its siblings from this request
        raise
    if not received:
        raise ApiError(4001, "No file arrived: send them in the multipart field “files”.")
    stall = b.faults.get(sid).get("upload_stall")
    if stall:
        await asyncio.sleep(float(stall))
    session = b.store.get("sessions", sid) or session
    for record in received:
        b.store.put("uploads", record["id"], record)
        session["uploads"].append(record["id"])
        if record["file_type"] == "video":
            session["edit"]["videos"].append(record["id"])
    b.store.put("sessions", sid, session)
    base = b.base_url(request)
    return ok({"files": [_describe(r, base) for r in received], "session_state_applied": True})


@routes.get("/api/credits/balance/simple")
async def balance(request: web.Request) -> web.Response:
    b = backend_of(request)
    user = b.authenticate(request)
    available = b.available_credits(user)
    return ok({"available": available, "frozen": user["frozen"], "total": available + user["frozen"]})


@routes.get("/api/state/nemo_agent/me/{sid}/latest")
async def state(request: web.Request) -> web.Response:
    b = backend_of(request)
    sid = request.match_info["sid"]
    user = b.authenticate(request, sid)
    session = b.session(user, sid)
    base = b.base_url(request)
    uploads = b.session_uploads(session)
    draft = b.draft(session, request)
    renders = [r for r in b.store.all("renders") if r["session_id"] == sid and r["status"] == "completed"]
    return ok({
        "session_id": sid, "task_id": session["task_id"], "task_name": session["task_name"],
        "state": {
            "video_infos": [_describe(uploads[u], base) for u in session["uploads"] if u in uploads],
            "draft": draft,
            "canvas_config": {k: v for k, v in draft["m"].items() if k in ("width", "height")},
            "video_analyses": {},
            "generated_media": [{"type": "video", "render_id": r["id"], "url": _output_url(base, r)}
                                for r in sorted(renders, key=lambda r: r["createdAt"])],
        },
    })


@routes.post("/api/auth/claim-token")
async def claim_token(request: web.Request) -> web.Response:
    b = backend_of(request)
    body = await _json_or_empty(request)
    sid = str(body.get("session_id") or "")
    user = b.authenticate(request, sid or None)
    session = b.session(user, sid)
    claim = {"claim_token": "clm_" + secrets.token_urlsafe(18), "session_id": session["session_id"],
             "task_id": session["task_id"], "expires_at": time.time() + CLAIM_SECONDS}
    b.store.put("claims", claim["claim_token"], claim)
    return ok({"claim_token": claim["claim_token"], "expires_in": CLAIM_SECONDS})


@routes.get("/workspace/claim")
async def claim_page(request: web.Request) -> web.Response:
    """The browser link: a read-only view of the session's draft."""
    b = backend_of(request)
    claim = b.store.get("claims", request.query.get("ct", ""))
    session = b.store.get("sessions", claim["session_id"]) if claim and claim["expires_at"] > time.time() else None
    if session is None:
        return web.Response(status=404, text="This link has expired or is not valid.", content_type="text/plain")
    draft = b.draft(session, request)
    items = []
    for track in draft["t"]:
        for seg in track["sg"]:
            label = seg["m"].get("name") or seg["m"].get("label") or seg["m"].get("text")
            items.append(f"<li>track {track['tt']}: {html.escape(str(label))} "
                         f"({seg['s'] / 1000:g}s, {seg['d'] / 1000:g}s)</li>")
    page = (f"<!doctype html><meta charset=utf-8><title>{html.escape(session['task_name'])}</title>"
            f"<h1>{html.escape(session['task_name'])}</h1><p>{draft['d'] / 1000:g} s</p><ul>{''.join(items)}</ul>")
    return web.Response(text=page, content_type="text/html")


@routes.get("/cdn/{key}/{name}")
async def cdn_file(request: web.Request) -> web.StreamResponse:
    b = backend_of(request)
    path = f"/cdn/{request.match_info['key']}/{request.match_info['name']}"
    upload = b.store.find("uploads", "cdn_path", path)
    if upload is None:
        raise web.HTTPNotFound()
    return web.FileResponse(upload["path"])


@routes.get("/health")
async def health(request: web.Request) -> web.Response:
    return ok({"status": "ok"})


def _describe(record: dict, base: str) -> dict:
    keys = ("filename", "file_type", "duration", "width", "height", "fps", "hash", "size")
    described = {k: record.get(k) for k in keys if record.get(k) is not None}
    described["cdn_url"] = base + record["cdn_path"]
    return described


def _output_url(base: str, render: dict) -> str:
    return f"{base}/render-result/{render['key']}/{render['id']}.mp4"


def _forget(records: list[dict]) -> None:
    from pathlib import Path

    for record in records:
        Path(record["path"]).unlink(missing_ok=True)


async def _json_or_empty(request: web.Request) -> dict:
    if not request.body_exists:
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise ApiError(400, "The request body is not valid JSON.", status=400) from None
    return body if isinstance(body, dict) else {}
