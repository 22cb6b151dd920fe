"""POST /run_sse: one chat turn, streamed as ADK events (nemo-api.md §9)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

from aiohttp import web

from backend import accounts
from backend.agent import TurnPlan, plan_turn
from backend.context import Backend, backend_of
from backend.errors import ApiError
from backend.sse import EventWriter, text_chunks

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

_TOP_FIELDS = {
    "app_name": "appName", "user_id": "userId", "session_id": "sessionId", "new_message": "newMessage",
    "streaming": "streaming", "state_delta": "stateDelta", "invocation_id": "invocationId",
    "function_call_event_id": "functionCallEventId", "custom_metadata": "customMetadata",
}
_CONTENT_KEYS = {"parts", "role"}
_PART_KEYS = {"text", "thought", "thoughtSignature", "thought_signature", "inlineData", "inline_data", "fileData",
              "file_data", "functionCall", "function_call", "functionResponse", "function_response",
              "executableCode", "executable_code", "codeExecutionResult", "code_execution_result",
              "videoMetadata", "video_metadata", "partMetadata", "part_metadata"}
TEMPORARY_ISSUE = "I encountered a temporary issue"
_DISCONNECTS = (ConnectionResetError, ConnectionError)


def parse_request(body) -> dict:
    """Read a RunAgentRequest the way ADK's pydantic model does (snake_case or camelCase)."""
    if not isinstance(body, dict):
        raise _invalid(["body"], "Input should be a valid dictionary", "dict_type")
    req = {}
    for snake, camel in _TOP_FIELDS.items():
        if snake in body:
            req[snake] = body[snake]
        elif camel in body:
            req[snake] = body[camel]
    for name in ("user_id", "session_id"):
        if not isinstance(req.get(name), str):
            raise _invalid(["body", name], "Field required" if name not in req else "Input should be a valid string",
                           "missing" if name not in req else "string_type")
    msg = req.get("new_message")
    if not isinstance(msg, dict):
        raise _invalid(["body", "new_message"], "Field required", "missing")
    for key in msg:
        if key not in _CONTENT_KEYS:
            raise _invalid(["body", "new_message", key], "Extra inputs are not permitted", "extra_forbidden")
    parts = msg.get("parts") or []
    if not isinstance(parts, list):
        raise _invalid(["body", "new_message", "parts"], "Input should be a valid list", "list_type")
    for i, part in enumerate(parts):
        if not isinstance(part, dict):
            raise _invalid(["body", "new_message", "parts", i], "Input should be a valid dictionary", "dict_type")
        for key in part:
            if key not in _PART_KEYS:
                raise _invalid(["body", "new_message", "parts", i, key], "Extra inputs are not permitted",
                               "extra_forbidden")
    req["text"] = "\n".join(p["text"] for p in parts if isinstance(p.get("text"), str) and not p.get("thought"))
    return req


def _invalid(loc: list, msg: str, kind: str) -> ApiError:
    return ApiError(422, msg, status=422, envelope="adk", detail=[{"type": kind, "loc": loc, "msg": msg}])


@routes.post("/run_sse")
async def run_sse(request: web.Request) -> web.StreamResponse:
    b = backend_of(request)
    try:
        body = await request.json()
    except ValueError:
        raise _invalid(["body"], "JSON decode error", "json_invalid") from None
    sid = body.get("session_id") or body.get("sessionId") if isinstance(body, dict) else None
    user = b.authenticate(request, sid if isinstance(sid, str) else None)
    req = parse_request(body)
    session = b.session(user, req["session_id"], envelope="adk")
    sid = session["session_id"]
    async with b.turn_lock(sid):
        session = b.store.get("sessions", sid) or session
        plan = plan_turn(req["text"], session["edit"], b.session_uploads(session), b.config.music_change_cost)
        if plan.cost and b.available_credits(user, sid) < plan.cost:
            raise b.out_of_credits(user)
        return await _stream_turn(request, b, session, user, req, plan, b.faults.get(sid))


async def _stream_turn(request, b: Backend, session: dict, user: dict, req: dict, plan: TurnPlan,
                       faults: dict) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                       "X-Accel-Buffering": "no"})
    await resp.prepare(request)
    writer = EventWriter(resp, faults.get("heartbeat", "comment"))
    interval = float(faults.get("heartbeat_interval") or b.config.heartbeat_interval)
    partial = bool(req.get("streaming") or faults.get("partial"))
    silent = bool(faults.get("silent")) and bool(plan.calls)
    applied = failed = False

    def apply() -> None:
        nonlocal applied
        if applied or plan.new_edit is None:
            applied = True
            return
        applied = True
        fresh = b.store.get("sessions", session["session_id"]) or session
        fresh["edit"] = plan.new_edit
        fresh["history"] = (fresh.get("history") or [])[-48:] + [
            {"role": "user", "text": req["text"]}, {"role": "agent", "text": plan.reply}]
        b.store.put("sessions", fresh["session_id"], fresh)
        if plan.cost:
            accounts.charge(b.store, user["user_id"], plan.cost)

    try:
        await writer.heartbeat()
        ids = [f"af-{uuid.uuid4()}" for _ in plan.calls]
        for call_id, call in zip(ids, plan.calls):
            await writer.function_call(call_id, call.name, call.args)
        if plan.calls and faults.get("stream_error"):
            failed = True
            message = faults["stream_error"] if isinstance(faults["stream_error"], str) else "Agent run failed"
            await writer.error(message, faults.get("stream_error_form", "json"))
            return resp
        if plan.calls and faults.get("cut_stream"):
            apply()  # the tool ran on the server; only the connection is lost
            request.transport.close()
            return resp
        ticks = faults.get("progress_ticks")
        if ticks:
            interval = 1.0 if ticks is True else float(ticks)
        await _work(writer, float(faults.get("turn_delay") or 0), interval, ticking=bool(ticks))
        apply()
        for call_id, call in zip(ids, plan.calls):
            await writer.function_response(call_id, call.name, call.result)
        if not silent:
            if partial:
                for chunk in text_chunks(plan.reply):
                    await writer.text(chunk, partial=True)
            await writer.text(plan.reply)
        if faults.get("temporary_issue"):
            await writer.text(TEMPORARY_ISSUE)
        await resp.write_eof()
    except _DISCONNECTS:
        log.info("client left turn early (session %s)", session["session_id"])
    finally:
        if not failed:
            apply()
    return resp


# Tool names a ticking turn alternates between: two names with different words, so every tick
# changes what the progress display shows and reaches the chat's reply port.
TICK_TOOLS = ("analyze_video", "edit_multitrack")


async def _work(writer: EventWriter, seconds: float, interval: float, ticking: bool = False) -> None:
    """Time the agent spends working, with heartbeats so the client knows it is alive.

    Ticking (the progress_ticks fault) sends a visible function call instead of each heartbeat,
    carrying the wall-clock time it was written, so a load bench can time backend -> chat."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    seq = 0
    while True:
        left = end - loop.time()
        if left <= 0:
            return
        await asyncio.sleep(min(interval, left))
        if ticking and loop.time() < end:
            await writer.function_call(f"tick-{seq}", TICK_TOOLS[seq % 2], {"seq": seq, "sent_at": time.time()})
            seq += 1
        else:
            await writer.heartbeat()
