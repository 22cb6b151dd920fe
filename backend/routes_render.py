"""The render proxy ({success,data|error} envelope): submit, poll, cancel, download, result files."""

from __future__ import annotations

import time

from aiohttp import web

from backend.context import backend_of
from backend.errors import ApiError, proxy_ok
from backend.renders import export_cost

routes = web.RouteTableDef()
ATTRIBUTION = "X-Skill-Source"


@routes.post("/api/render/proxy/lambda")
async def submit(request: web.Request) -> web.Response:
    b = backend_of(request)
    try:
        body = await request.json()
    except ValueError:
        raise ApiError(400, "The request body is not valid JSON.", status=400, envelope="proxy") from None
    body = body if isinstance(body, dict) else {}
    sid = str(body.get("sessionId") or body.get("session_id") or "")
    user = b.authenticate(request, sid or None, envelope="proxy")
    if not request.headers.get(ATTRIBUTION, "").strip():
        # nemo-api.md §3.2: an anonymous export without the skill attribution headers is refused.
        raise ApiError(402, "Export needs the X-Skill-Source, X-Skill-Version and X-Skill-Platform headers.",
                       status=402, envelope="proxy")
    session = b.session(user, sid, envelope="proxy")
    render_id = str(body.get("id") or "")
    if not render_id or len(render_id) > 100 or "/" in render_id:
        raise ApiError(400, "Give the export a unique id, e.g. render_<milliseconds>.", status=400, envelope="proxy")
    if b.store.get("renders", render_id) is not None:
        raise ApiError(409, "That export id was already used; submit again with a new id.", status=409,
                       envelope="proxy")
    draft = body.get("draft") if isinstance(body.get("draft"), dict) else b.draft(session, request)
    if not any((t.get("sg") for t in draft.get("t") or [] if isinstance(t, dict))):
        raise ApiError(400, "The draft is empty; upload a video before exporting.", status=400, envelope="proxy")
    cost = export_cost(draft, b.config)
    if b.available_credits(user, sid) < cost:
        raise b.out_of_credits(user, envelope="proxy")
    output = body.get("output") if isinstance(body.get("output"), dict) else {}
    record = b.renders.create(render_id, session, user, draft, output, cost)
    return proxy_ok({"id": record["id"], "status": "pending", "progress": record["progress"],
                     "createdAt": record["createdAt"]})


def _owned_render(request: web.Request) -> tuple[dict, dict]:
    b = backend_of(request)
    record = b.store.get("renders", request.match_info["rid"])
    user = b.authenticate(request, record["session_id"] if record else None, envelope="proxy")
    if record is None or record["user_id"] != user["user_id"]:
        raise ApiError(404, "No export with that id.", status=404, envelope="proxy")
    return b, record


def render_view(request: web.Request, record: dict) -> dict:
    b = backend_of(request)
    view = {"id": record["id"], "status": record["status"], "progress": record["progress"],
            "createdAt": record["createdAt"]}
    if record.get("stage") and record["status"] == "processing":
        view["stage"] = record["stage"]
    if record["completedAt"]:
        view["completedAt"] = record["completedAt"]
    if record["status"] == "completed":
        view["outputUrl"] = f"{b.base_url(request)}/render-result/{record['key']}/{record['id']}.mp4"
        summary = record.get("summary") or {}
        view.update({k: summary[k] for k in ("duration", "width", "height", "style", "mood", "tempo", "key", "mode")
                     if k in summary})
        view["size"] = summary.get("size_bytes")
    if record["status"] == "failed":
        view["error"] = record["error"] or "The export failed."
        if record.get("cancelled"):
            view["cancelled"] = True
    return view


def _respond(request: web.Request, record: dict) -> web.Response:
    b = backend_of(request)
    view = render_view(request, record)
    if b.faults.get(record["session_id"]).get("render_poll_shape") == "toplevel":
        # The skill's v1.9 wording: top-level status and output.url, no success wrapper.
        shaped = {k: v for k, v in view.items() if k != "outputUrl"}
        if "outputUrl" in view:
            shaped["output"] = {"url": view["outputUrl"], "duration": view.get("duration"), "size": view.get("size")}
        return web.json_response(shaped)
    return proxy_ok(view)


@routes.get("/api/render/proxy/lambda/{rid}")
@routes.get("/api/render/proxy/{rid}")  # the older path, same answer
async def poll(request: web.Request) -> web.Response:
    b, record = _owned_render(request)
    status = b.faults.consume("poll_error", record["session_id"])
    if status == 500:  # the poll_error fault: the backend's own crash answer...
        raise ApiError(500, "Something went wrong on the server.", status=500, envelope="proxy")
    if status is not None:  # ...or a proxy in front of it hiccuping, with a plain-text page
        return web.Response(status=status, text=f"{status} {'Bad Gateway' if status == 502 else 'Service Unavailable'}")
    return _respond(request, record)


@routes.post("/api/render/proxy/lambda/{rid}/cancel")
async def cancel(request: web.Request) -> web.Response:
    b, record = _owned_render(request)
    record = b.renders.cancel(record["id"])
    return proxy_ok(render_view(request, record))


@routes.get("/api/render/proxy/{rid}/download")
async def download(request: web.Request) -> web.StreamResponse:
    b, record = _owned_render(request)
    return _file(b, record)


@routes.get("/render-result/{key}/{name}")
async def result_file(request: web.Request) -> web.StreamResponse:
    """outputUrl: an unguessable link that needs no token, like a CDN URL."""
    b = backend_of(request)
    name = request.match_info["name"]
    record = b.store.get("renders", name[:-4]) if name.endswith(".mp4") else None
    if record is None or record["key"] != request.match_info["key"]:
        raise web.HTTPNotFound()
    return _file(b, record)


def _file(b, record: dict) -> web.StreamResponse:
    path = b.renders.output_path(record)
    if record.get("purged"):
        raise ApiError(404, "That export has expired; please export again.", status=404, envelope="proxy")
    if record["status"] != "completed" or not path.exists():
        raise ApiError(409, "The export is not finished yet.", status=409, envelope="proxy")
    if not record.get("downloadedAt"):
        # The janitor (backend/janitor.py) deletes the file a while after its first download.
        record["downloadedAt"] = int(time.time() * 1000)
        b.store.put("renders", record["id"], record)
    return web.FileResponse(path, headers={"Content-Type": "video/mp4",
                                           "Content-Disposition": f'attachment; filename="{record["id"]}.mp4"'})
