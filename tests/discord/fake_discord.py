"""A fake Discord on loopback: enough REST, CDN and gateway for discord.py 2.7 to run for real.

It answers login, command sync, the gateway discovery call and a websocket gateway (HELLO,
IDENTIFY -> READY, heartbeats, and any dispatch a test pushes), interaction callbacks, webhook
edits and follow-ups (multipart files kept as bytes), channel messages, and attachment downloads.
Everything it receives is recorded in order so tests can check what a user would have seen.

Fault programs (by route name: "followup", "channel_send", "webhook_edit", "channel_edit", ...):
`rate_limit` answers 429 the way Discord does (Retry-After and X-RateLimit-* headers, a JSON body
with retry_after and global, and the `Via` header discord.py looks for before it retries),
per route or global; `server_error` answers 5xx; `drop_upload` reads part of a multipart upload
and hangs up without answering. Each fires `times` times in a row; `fault_hits` records them.

Responses carry Content-Type exactly `application/json`: discord.py parses JSON only then.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

APP_ID = 424242
BOT_USER = {"id": "424242", "username": "aiwm", "discriminator": "0", "global_name": "AI With Music",
            "avatar": None, "bot": True}
USER = {"id": "777", "username": "ana", "discriminator": "0", "global_name": "Ana", "avatar": None}
TIMESTAMP = "2026-11-24T12:00:00.000000+00:00"
GUILD_ID = 5550001
CHANNEL_ID = 6660001
GUILD_PREMIUM_TIER = 2  # boost level 2: discord.py says 50 MiB for channel uploads


def guild_json() -> dict:
    return {
        "id": str(GUILD_ID), "name": "Test server", "icon": None, "owner_id": USER["id"], "roles": [],
        "emojis": [], "stickers": [], "features": [], "member_count": 2, "members": [],
        "premium_tier": GUILD_PREMIUM_TIER, "unavailable": False, "joined_at": TIMESTAMP, "large": False,
        "channels": [{"id": str(CHANNEL_ID), "type": 0, "name": "general", "position": 0,
                      "permission_overwrites": [], "nsfw": False, "parent_id": None}],
        "threads": [], "voice_states": [], "presences": [], "stage_instances": [],
        "guild_scheduled_events": [], "soundboard_sounds": [],
    }


def jsonr(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=json.dumps(data).encode(), headers={"Content-Type": "application/json"})


def error(status: int, code: int, message: str) -> web.Response:
    return jsonr({"code": code, "message": message}, status)


@dataclass
class SentMessage:
    id: int
    channel_id: int | None
    via: str  # "original", "followup" or "channel"
    token: str | None
    content: str | None
    files: list[tuple[str, bytes]] = field(default_factory=list)
    edits: list[str | None] = field(default_factory=list)  # every content it showed, in order
    deleted: bool = False
    reference: int | None = None
    allowed_mentions: dict | None = None


def message_json(mid: int, channel_id: int | None, content: str | None, *, author: dict | None = None,
                 attachments: list[dict] | None = None, webhook_id: int | None = None,
                 mentions: list[dict] | None = None, guild_id: int | None = None) -> dict:
    data = {
        "id": str(mid), "channel_id": str(channel_id or 0), "type": 0, "content": content or "",
        "author": author or BOT_USER, "attachments": attachments or [], "embeds": [],
        "mentions": mentions or [], "mention_roles": [], "pinned": False, "mention_everyone": False,
        "tts": False, "timestamp": TIMESTAMP, "edited_timestamp": None, "flags": 0, "components": [],
    }
    if webhook_id is not None:
        data["webhook_id"] = str(webhook_id)
    if guild_id is not None:
        data["guild_id"] = str(guild_id)
    return data


class FakeDiscord:
    def __init__(self, *, upload_limit: int | None = None) -> None:
        self.upload_limit = upload_limit  # bytes per file the fake accepts (413 above), None = any
        self.calls: list[tuple[str, str]] = []
        self.callbacks: list[dict] = []  # {"interaction_id", "token", "type", "data"}
        self.messages: dict[int, SentMessage] = {}
        self.synced: dict[str, list[dict]] = {}  # "global" or guild id -> commands
        self.dead_tokens: set[str] = set()
        self.cdn: dict[str, Path] = {}
        self.identified = asyncio.Event()
        self.fault_programs: dict[str, list[dict]] = {}  # route name -> faults still to fire, in order
        self.fault_hits: list[tuple[str, str]] = []  # (route name, "429"|"5xx"|"drop") as they fired
        self._ids = itertools.count(900000001)
        self._ws: web.WebSocketResponse | None = None
        self._seq = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.url = ""

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=200 * 1024 * 1024)
        r = app.router
        api = "/api/v10"
        r.add_get(f"{api}/users/@me", self._me)
        r.add_get(f"{api}/oauth2/applications/@me", self._application)
        r.add_put(f"{api}/applications/{{app}}/commands", self._sync)
        r.add_put(f"{api}/applications/{{app}}/guilds/{{guild}}/commands", self._sync)
        r.add_get(f"{api}/gateway/bot", self._gateway_bot)
        r.add_get("/gateway", self._gateway)
        r.add_post(f"{api}/interactions/{{iid}}/{{token}}/callback", self._callback)
        r.add_get(f"{api}/webhooks/{{app}}/{{token}}/messages/{{mid}}", self._webhook_get)
        r.add_patch(f"{api}/webhooks/{{app}}/{{token}}/messages/{{mid}}", self._webhook_edit)
        r.add_delete(f"{api}/webhooks/{{app}}/{{token}}/messages/{{mid}}", self._webhook_delete)
        r.add_post(f"{api}/webhooks/{{app}}/{{token}}", self._followup)
        r.add_post(f"{api}/channels/{{cid}}/messages", self._channel_send)
        r.add_patch(f"{api}/channels/{{cid}}/messages/{{mid}}", self._channel_edit)
        r.add_delete(f"{api}/channels/{{cid}}/messages/{{mid}}", self._channel_delete)
        r.add_get("/cdn/attachments/{name}", self._cdn)
        app.middlewares.append(self._record)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/v10"

    def serve(self, name: str, path: Path) -> str:
        """Serve a file as a Discord attachment; returns its (signed-looking) URL."""
        self.cdn[name] = path
        return f"{self.url}/cdn/attachments/{name}?ex=1&is=2&hm=3"

    # --- what tests look at ----------------------------------------------------------------------

    def by_via(self, via: str) -> list[SentMessage]:
        return [m for m in self.messages.values() if m.via == via]

    def original(self, token: str) -> SentMessage | None:
        return next((m for m in self.messages.values() if m.via == "original" and m.token == token), None)

    def files(self) -> list[tuple[SentMessage, str, bytes]]:
        return [(m, name, data) for m in self.messages.values() for name, data in m.files]

    # --- fault programs ------------------------------------------------------------------------

    def rate_limit(self, route: str, times: int = 1, retry_after: float = 0.1, *, global_: bool = False,
                   via: bool = True) -> None:
        """Answer `route` with 429 `times` in a row. via=False looks like a Cloudflare ban, which
        discord.py does not retry."""
        self._program(route, times, kind="429", retry_after=retry_after, global_=global_, via=via)

    def server_error(self, route: str, times: int = 1, status: int = 502) -> None:
        self._program(route, times, kind="5xx", status=status)

    def drop_upload(self, route: str = "followup", times: int = 1, after_bytes: int = 2048,
                    token: str | None = None) -> None:
        """Cut off the next `times` file uploads (multipart bodies) on `route`, optionally only for
        one interaction token: read `after_bytes`, then close the connection without answering."""
        self._program(route, times, kind="drop", after_bytes=after_bytes, token=token)

    def _program(self, route: str, times: int, **fault: Any) -> None:
        self.fault_programs.setdefault(route, []).extend(dict(fault) for _ in range(times))

    def _next_fault(self, request: web.Request, route: str) -> dict | None:
        for index, fault in enumerate(self.fault_programs.get(route) or []):
            if fault["kind"] == "drop":
                if not request.content_type.startswith("multipart/"):
                    continue  # only uploads are cut off
                if fault["token"] is not None and fault["token"] != request.match_info.get("token"):
                    continue
            return self.fault_programs[route].pop(index)
        return None

    async def _fire(self, request: web.Request, route: str, fault: dict) -> web.Response:
        self.fault_hits.append((route, fault["kind"]))
        if fault["kind"] == "drop":
            await request.content.read(fault["after_bytes"])
            if request.transport is not None:
                request.transport.close()
            raise ConnectionResetError("fake Discord dropped the upload")
        if fault["kind"] == "5xx":
            return error(fault["status"], 0, "Server Error")
        retry_after = float(fault["retry_after"])
        headers = {
            "Content-Type": "application/json",
            "Retry-After": str(max(1, math.ceil(retry_after))),
            "X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
            "X-RateLimit-Reset-After": f"{retry_after:.3f}",
            "X-RateLimit-Bucket": f"fake-{route}",
            "X-RateLimit-Scope": "global" if fault["global_"] else "user",
        }
        if fault["global_"]:
            headers["X-RateLimit-Global"] = "true"
        if fault["via"]:
            headers["Via"] = "1.1 google"
        body = {"message": "You are being rate limited.", "retry_after": retry_after,
                "global": bool(fault["global_"]), "code": 0}
        return web.Response(status=429, body=json.dumps(body).encode(), headers=headers)

    # --- gateway -------------------------------------------------------------------------------

    async def dispatch(self, event: str, data: dict) -> None:
        assert self._ws is not None, "no gateway connection"
        await self._ws.send_str(json.dumps({"op": 0, "t": event, "s": next(self._seq), "d": data}))

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._ws = ws
        await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 30000}}))
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            payload = json.loads(msg.data)
            if payload["op"] == 1:
                await ws.send_str(json.dumps({"op": 11}))
            elif payload["op"] == 2:
                self.identify = payload["d"]
                await self.dispatch("READY", {
                    "v": 10, "user": BOT_USER, "guilds": [{"id": str(GUILD_ID), "unavailable": True}],
                    "session_id": "s1",
                    "resume_gateway_url": f"ws://127.0.0.1:{request.url.port}/gateway",
                    "application": {"id": str(APP_ID), "flags": 0}, "shard": [0, 1],
                })
                await self.dispatch("GUILD_CREATE", guild_json())
                self.identified.set()
        return ws

    async def _gateway_bot(self, request: web.Request) -> web.Response:
        return jsonr({"url": f"ws://127.0.0.1:{request.url.port}/gateway", "shards": 1,
                      "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0,
                                              "max_concurrency": 1}})

    # --- REST ----------------------------------------------------------------------------------

    @web.middleware
    async def _record(self, request: web.Request, handler):
        self.calls.append((request.method, request.path))
        route = getattr(request.match_info.handler, "__name__", "").lstrip("_")
        fault = self._next_fault(request, route) if self.fault_programs.get(route) else None
        if fault is not None:
            return await self._fire(request, route, fault)
        return await handler(request)

    async def _me(self, request: web.Request) -> web.Response:
        return jsonr(BOT_USER)

    async def _application(self, request: web.Request) -> web.Response:
        return jsonr({"id": str(APP_ID), "name": "AI With Music", "description": "", "icon": None,
                      "bot_public": True, "bot_require_code_grant": False, "owner": USER,
                      "verify_key": "00", "flags": 0})

    async def _sync(self, request: web.Request) -> web.Response:
        commands = await request.json()
        self.synced[request.match_info.get("guild", "global")] = commands
        out = []
        for c in commands:
            item = dict(c, id=str(next(self._ids)), application_id=str(APP_ID), version="1")
            item.setdefault("description", "")  # Discord sends "" for context-menu commands
            if "guild" in request.match_info:
                item["guild_id"] = request.match_info["guild"]
            out.append(item)
        return jsonr(out)

    async def _callback(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        token = request.match_info["token"]
        self.callbacks.append({"interaction_id": request.match_info["iid"], "token": token,
                               "type": body["payload"]["type"], "data": body["payload"].get("data")})
        kind = body["payload"]["type"]
        content = (body["payload"].get("data") or {}).get("content")
        mid = next(self._ids)
        self.messages[mid] = SentMessage(mid, None, "original", token, content, edits=[content])
        return jsonr({"interaction": {"id": request.match_info["iid"], "type": 2,
                                      "response_message_loading": kind == 5,
                                      "response_message_ephemeral": bool(((body["payload"].get("data") or {}).get("flags") or 0) & 64)},
                      "resource": {"type": kind}})

    def _find(self, token: str, mid: str) -> SentMessage | None:
        if mid == "@original":
            return self.original(token)
        message = self.messages.get(int(mid))
        return message if message is not None and message.token == token else None

    async def _webhook_get(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        if token in self.dead_tokens:
            return error(401, 50027, "Invalid Webhook Token")
        message = self._find(token, request.match_info["mid"])
        if message is None:
            return error(404, 10008, "Unknown Message")
        return jsonr(message_json(message.id, message.channel_id, message.content, webhook_id=APP_ID))

    async def _webhook_edit(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        if token in self.dead_tokens:
            return error(401, 50027, "Invalid Webhook Token")
        message = self._find(token, request.match_info["mid"])
        if message is None:
            return error(404, 10008, "Unknown Message")
        body = await self._body(request)
        if (refusal := self._too_big(body)) is not None:
            return refusal
        if "content" in body["payload"]:
            message.content = body["payload"]["content"]
            message.edits.append(message.content)
        message.files.extend(body["files"])
        return jsonr(message_json(message.id, message.channel_id, message.content, webhook_id=APP_ID))

    async def _webhook_delete(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        if token in self.dead_tokens:
            return error(401, 50027, "Invalid Webhook Token")
        message = self._find(token, request.match_info["mid"])
        if message is None:
            return error(404, 10008, "Unknown Message")
        message.deleted = True
        return web.Response(status=204)

    async def _followup(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        if token in self.dead_tokens:
            return error(401, 50027, "Invalid Webhook Token")
        body = await self._body(request)
        if (refusal := self._too_big(body)) is not None:
            return refusal
        mid = next(self._ids)
        content = body["payload"].get("content")
        self.messages[mid] = SentMessage(mid, None, "followup", token, content, files=body["files"], edits=[content])
        return jsonr(message_json(mid, None, content, webhook_id=APP_ID,
                                  attachments=self._attachments(body["files"])))

    async def _channel_send(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        if (refusal := self._too_big(body)) is not None:
            return refusal
        cid = int(request.match_info["cid"])
        mid = next(self._ids)
        payload = body["payload"]
        content = payload.get("content")
        ref = (payload.get("message_reference") or {}).get("message_id")
        self.messages[mid] = SentMessage(mid, cid, "channel", None, content, files=body["files"], edits=[content],
                                         reference=int(ref) if ref else None,
                                         allowed_mentions=payload.get("allowed_mentions"))
        return jsonr(message_json(mid, cid, content, attachments=self._attachments(body["files"])))

    async def _channel_edit(self, request: web.Request) -> web.Response:
        message = self.messages.get(int(request.match_info["mid"]))
        if message is None or message.via != "channel":
            return error(404, 10008, "Unknown Message")
        body = await self._body(request)
        if "content" in body["payload"]:
            message.content = body["payload"]["content"]
            message.edits.append(message.content)
        return jsonr(message_json(message.id, message.channel_id, message.content))

    async def _channel_delete(self, request: web.Request) -> web.Response:
        message = self.messages.get(int(request.match_info["mid"]))
        if message is None:
            return error(404, 10008, "Unknown Message")
        message.deleted = True
        return web.Response(status=204)

    async def _cdn(self, request: web.Request) -> web.StreamResponse:
        path = self.cdn.get(request.match_info["name"])
        if path is None:
            return web.Response(status=404)
        return web.FileResponse(path)

    # --- helpers -------------------------------------------------------------------------------

    def _too_big(self, body: dict) -> web.Response | None:
        if self.upload_limit is not None and any(len(data) > self.upload_limit for _, data in body["files"]):
            return error(413, 40005, "Request entity too large")
        return None

    def _attachments(self, files: list[tuple[str, bytes]]) -> list[dict]:
        return [{"id": str(next(self._ids)), "filename": name, "size": len(data),
                 "url": f"{self.url}/cdn/attachments/{name}", "proxy_url": f"{self.url}/cdn/attachments/{name}"}
                for name, data in files]

    async def _body(self, request: web.Request) -> dict:
        """{"payload": json body or payload_json, "files": [(filename, bytes)]}."""
        if request.content_type.startswith("multipart/"):
            payload: dict = {}
            files: list[tuple[str, bytes]] = []
            reader = await request.multipart()
            async for part in reader:
                if part.name == "payload_json":
                    payload = json.loads(await part.text())
                else:
                    files.append((part.filename or part.name or "file", bytes(await part.read())))
            return {"payload": payload, "files": files}
        raw = await request.read()
        return {"payload": json.loads(raw) if raw else {}, "files": []}
