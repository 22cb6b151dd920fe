"""A fake Telegram Bot API server on loopback, for the real python-telegram-bot Application.

It speaks the wire format PTB uses (form or multipart bodies with JSON-encoded values, JSON
replies `{"ok": ..., "result": ...}`), keeps every call for assertions, serves real files for
getFile downloads, stores uploaded videos so tests can probe them, and runs fault programs:
answer a method with errors N times in a row (`rate_limit`: 429 + parameters.retry_after;
`server_error`: 5xx; `fail_once` for one error of any kind), optionally only for one chat, or drop
an upload (`drop_upload`: read part of the body, then close the connection without answering).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from aiohttp import web

TOKEN = "123456789:AAHfakeTOKENfakeTOKENfakeTOKENfake12"
BOT_ID = 123456789
BOT_USERNAME = "aiwm_test_bot"
PUBLIC_DOWNLOAD_LIMIT = 20 * 1024 * 1024


@dataclass
class Call:
    method: str
    params: dict
    files: dict = field(default_factory=dict)  # field name -> (filename, content_type, stored path)
    status: int | None = None  # the HTTP status answered; None = no answer (dropped, or still running)


@dataclass
class StoredFile:
    file_id: str
    unique_id: str
    path: Path | None  # the real bytes; None = a file we only claim exists
    size: int
    file_path: str


class FakeBotApi:
    def __init__(self, work_dir: Path, token: str = TOKEN) -> None:
        self.token = token
        self.work_dir = work_dir
        self.uploads_dir = work_dir / "uploads"
        self.uploads_dir.mkdir(parents=True, exist_ok=True)
        self.calls: list[Call] = []
        self.file_downloads: list[str] = []
        self.files: dict[str, StoredFile] = {}
        self.messages: dict[tuple[int, int], dict] = {}  # (chat_id, message_id) -> message as now shown
        self.deleted: set[tuple[int, int]] = set()
        self.faults: dict[str, list[tuple[int, dict]]] = {}
        self.drops: dict[str, list[int]] = {}  # method -> bytes of the body to read before hanging up
        self.webhook: dict | None = None
        # Like telegram-bot-api --local: getFile answers absolute paths, uploads may be file:// URIs.
        self.local_mode = False
        self.url = ""
        self._updates: list[dict] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._file_ids = itertools.count(1)
        self._new_update = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._changed = asyncio.Condition()

    # --- server lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=200 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_url(self) -> str:
        return f"{self.url}/bot"

    @property
    def file_url(self) -> str:
        return f"{self.url}/file/bot"

    # --- what tests do -----------------------------------------------------------------------

    def add_file(self, path: Path | None, *, size: int | None = None) -> StoredFile:
        n = next(self._file_ids)
        suffix = path.suffix if path is not None else ".mp4"
        stored = StoredFile(
            file_id=f"FILE{n}", unique_id=f"uniq{n}", path=path,
            size=size if size is not None else path.stat().st_size,  # type: ignore[union-attr]
            file_path=f"documents/file_{n}{suffix}",
        )
        self.files[stored.file_id] = stored
        return stored

    def inject(self, message: dict) -> int:
        """Queue an update carrying `message`; returns the update id."""
        update_id = next(self._update_ids)
        message.setdefault("message_id", next(self._message_ids))
        message.setdefault("date", int(time.time()))
        self.messages[(message["chat"]["id"], message["message_id"])] = message
        self._updates.append({"update_id": update_id, "message": message})
        self._new_update.set()
        return update_id

    def inject_raw(self, update: dict) -> int:
        """Queue an update exactly as given (it may be malformed), with the next update id."""
        update_id = next(self._update_ids)
        self._updates.append({**update, "update_id": update_id})
        self._new_update.set()
        return update_id

    def fail_once(self, method: str, status: int = 429, **extra: object) -> None:
        self.faults.setdefault(method, []).append((status, extra))

    def rate_limit(self, method: str, times: int = 1, retry_after: float = 1, chat_id: int | None = None) -> None:
        """Answer `method` with 429 Too Many Requests + parameters.retry_after, `times` in a row."""
        for _ in range(times):
            self.fail_once(method, 429, retry_after=retry_after, **({"chat_id": chat_id} if chat_id else {}))

    def server_error(self, method: str, times: int = 1, status: int = 502, chat_id: int | None = None) -> None:
        """Answer `method` with a 5xx (Telegram's front answers 502 Bad Gateway), `times` in a row."""
        descriptions = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
                        504: "Gateway Timeout"}
        for _ in range(times):
            self.fail_once(method, status, description=descriptions.get(status, "Server Error"),
                           **({"chat_id": chat_id} if chat_id else {}))

    def drop_upload(self, method: str = "sendVideo", times: int = 1, after_bytes: int = 4096) -> None:
        """Read only `after_bytes` of the next `times` requests to `method`, then close the
        connection without any answer (an upload cut off mid-way)."""
        self.drops.setdefault(method, []).extend([after_bytes] * times)

    def answered(self, method: str) -> list[Call]:
        """Calls to `method` that were answered with success (what the user actually saw)."""
        return [c for c in self.calls if c.method == method and c.status == 200]

    def of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def wait_for(self, predicate, timeout: float = 20.0) -> None:
        """Wait until predicate(self) holds (a liveness bound, not a speed assertion)."""
        async def waiter():
            async with self._changed:
                await self._changed.wait_for(lambda: predicate(self))
        await asyncio.wait_for(waiter(), timeout)

    # --- the API -----------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        if self.drops.get(method):
            return await self._drop(request, method, self.drops[method].pop(0))
        params, files = await self._read_params(request)
        call = Call(method, params, files)
        self.calls.append(call)
        try:
            answer = self._fault_for(method, params)
            if answer is None:
                handler = getattr(self, f"_m_{method}", None)
                answer = _error(404, "Not Found: method not found") if handler is None else await handler(params, files)
            call.status = answer.status
            return answer
        finally:
            async with self._changed:
                self._changed.notify_all()

    def _fault_for(self, method: str, params: dict) -> web.Response | None:
        queued = self.faults.get(method) or []
        for index, (status, extra) in enumerate(queued):
            chat = extra.get("chat_id")
            if chat is not None and str(chat) != str(params.get("chat_id")):
                continue  # a fault aimed at another chat
            queued.pop(index)
            if status == 429:
                retry_after = extra.get("retry_after", 1)
                return _error(429, f"Too Many Requests: retry after {retry_after}",
                              parameters={"retry_after": retry_after})
            return _error(status, str(extra.get("description", "Bad Request: fault")))
        return None

    async def _drop(self, request: web.Request, method: str, after_bytes: int) -> web.Response:
        """Take part of the body, then hang up without answering; the call is kept, unanswered."""
        call = Call(method, {}, {})
        self.calls.append(call)
        try:
            await request.content.read(after_bytes)
        finally:
            if request.transport is not None:
                request.transport.close()
            async with self._changed:
                self._changed.notify_all()
        raise ConnectionResetError("fake Bot API dropped the upload")

    async def _read_params(self, request: web.Request) -> tuple[dict, dict]:
        params: dict = {}
        files: dict = {}
        if request.content_type == "application/json":
            return await request.json(), files
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                stored = self.uploads_dir / f"{len(self.calls)}-{key}-{Path(value.filename or 'f').name}"
                stored.write_bytes(value.file.read())
                files[key] = (value.filename, value.content_type, stored)
            else:
                try:
                    params[key] = json.loads(value)
                except (TypeError, ValueError):
                    params[key] = value
        return params, files

    def _bot_user(self) -> dict:
        return {"id": BOT_ID, "is_bot": True, "first_name": "AI With Music", "username": BOT_USERNAME}

    def _chat(self, chat_id) -> dict:
        chat_id = int(chat_id)
        for (cid, _), message in self.messages.items():
            if cid == chat_id:
                return message["chat"]
        return {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"}

    def _new_message(self, params: dict, **content: object) -> dict:
        chat = self._chat(params["chat_id"])
        message = {"message_id": next(self._message_ids), "date": int(time.time()), "chat": chat,
                   "from": self._bot_user(), **content}
        self.messages[(chat["id"], message["message_id"])] = message
        return message

    async def _m_getMe(self, params, files):
        return _ok({**self._bot_user(), "can_join_groups": True, "can_read_all_group_messages": False,
                    "supports_inline_queries": False})

    async def _m_getUpdates(self, params, files):
        offset = int(params.get("offset") or 0)
        self._updates = [u for u in self._updates if u["update_id"] >= offset]
        if not self._updates:
            self._new_update.clear()
            try:
                await asyncio.wait_for(self._new_update.wait(), float(params.get("timeout") or 0))
            except asyncio.TimeoutError:
                pass
        return _ok([u for u in self._updates if u["update_id"] >= offset])

    async def _m_deleteWebhook(self, params, files):
        self.webhook = None
        return _ok(True)

    async def _m_setWebhook(self, params, files):
        self.webhook = params
        return _ok(True)

    async def _m_setMyCommands(self, params, files):
        return _ok(True)

    async def _m_sendChatAction(self, params, files):
        return _ok(True)

    async def _m_sendMessage(self, params, files):
        return _ok(self._new_message(params, text=params["text"]))

    async def _m_editMessageText(self, params, files):
        key = (int(params["chat_id"]), int(params["message_id"]))
        message = self.messages.get(key)
        if message is None or key in self.deleted:
            return _error(400, "Bad Request: message to edit not found")
        if message.get("text") == params["text"]:
            return _error(400, "Bad Request: message is not modified: specified new message content "
                               "and reply markup are exactly the same")
        message["text"] = params["text"]
        message["edit_date"] = int(time.time())
        return _ok(message)

    async def _m_deleteMessage(self, params, files):
        key = (int(params["chat_id"]), int(params["message_id"]))
        if key not in self.messages or key in self.deleted:
            return _error(400, "Bad Request: message to delete not found")
        self.deleted.add(key)
        return _ok(True)

    async def _m_getFile(self, params, files):
        stored = self.files.get(params["file_id"])
        if stored is None:
            return _error(400, "Bad Request: invalid file_id")
        if self.local_mode and stored.path is not None:
            return _ok({"file_id": stored.file_id, "file_unique_id": stored.unique_id,
                        "file_size": stored.size, "file_path": str(stored.path.absolute())})
        if stored.size > PUBLIC_DOWNLOAD_LIMIT:
            return _error(400, "Bad Request: file is too big")
        return _ok({"file_id": stored.file_id, "file_unique_id": stored.unique_id,
                    "file_size": stored.size, "file_path": stored.file_path})

    async def _m_sendVideo(self, params, files):
        for field_name in ("video", "thumbnail"):
            ref = params.get(field_name)
            if self.local_mode and isinstance(ref, str) and ref.startswith("file://"):
                source = Path(unquote(urlparse(ref).path))
                stored = self.uploads_dir / f"{len(self.calls)}-{field_name}-local-{source.name}"
                stored.write_bytes(source.read_bytes())
                files[field_name] = (source.name, "video/mp4", stored)
        if "video" not in files:
            return _error(400, "Bad Request: there is no video in the request")
        filename, _, path = files["video"]
        video = {"file_id": f"OUT{len(self.calls)}", "file_unique_id": f"out{len(self.calls)}",
                 "width": int(params.get("width") or 0), "height": int(params.get("height") or 0),
                 "duration": int(params.get("duration") or 0), "file_name": filename,
                 "mime_type": "video/mp4", "file_size": path.stat().st_size}
        content: dict = {"video": video}
        if params.get("caption"):
            content["caption"] = params["caption"]
        return _ok(self._new_message(params, **content))

    def thumbnail_of(self, call: Call) -> Path | None:
        """The uploaded thumbnail of a sendVideo call (sent as attach://name or as its own field)."""
        ref = call.params.get("thumbnail")
        if isinstance(ref, str) and ref.startswith("attach://"):
            entry = call.files.get(ref[len("attach://"):])
        else:
            entry = call.files.get("thumbnail")
        return entry[2] if entry else None

    async def _file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        path = request.match_info["path"]
        self.file_downloads.append(path)
        for stored in self.files.values():
            if stored.file_path == path and stored.path is not None:
                return web.FileResponse(stored.path)
        return web.Response(status=404)


def _ok(result) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(status: int, description: str, **extra) -> web.Response:
    return web.json_response({"ok": False, "error_code": status, "description": description, **extra},
                             status=status)


# --- message builders (the JSON Telegram would send) ---------------------------------------------

def user(user_id: int = 42, language: str | None = "en", name: str = "Alice") -> dict:
    u = {"id": user_id, "is_bot": False, "first_name": name}
    if language:
        u["language_code"] = language
    return u


def private_chat(user_id: int = 42) -> dict:
    return {"id": user_id, "type": "private", "first_name": "Alice"}


def group_chat(chat_id: int = -100500) -> dict:
    return {"id": chat_id, "type": "supergroup", "title": "Clip makers"}


def text_entities(text: str) -> list[dict]:
    """bot_command / mention entities as Telegram marks them (offsets in UTF-16 units)."""
    entities = []
    pos = 0
    for word in text.split(" "):
        offset = len(text[:pos].encode("utf-16-le")) // 2
        length = len(word.encode("utf-16-le")) // 2
        if word.startswith("/") and pos == 0:
            entities.append({"type": "bot_command", "offset": offset, "length": length})
        elif word.startswith("@") and len(word) > 1:
            entities.append({"type": "mention", "offset": offset, "length": length})
        pos += len(word) + 1
    return entities


def message(chat: dict, sender: dict, *, text: str | None = None, caption: str | None = None,
            **content: object) -> dict:
    m: dict = {"chat": chat, "from": sender, **content}
    if text is not None:
        m["text"] = text
        if text_entities(text):
            m["entities"] = text_entities(text)
    if caption is not None:
        m["caption"] = caption
        if text_entities(caption):
            m["caption_entities"] = text_entities(caption)
    return m


def video_field(stored: StoredFile, width: int = 320, height: int = 240, duration: int = 2,
                mime: str = "video/mp4", name: str | None = "clip.mp4") -> dict:
    v = {"file_id": stored.file_id, "file_unique_id": stored.unique_id, "width": width, "height": height,
         "duration": duration, "mime_type": mime, "file_size": stored.size}
    if name:
        v["file_name"] = name
    return v


def document_field(stored: StoredFile, mime: str, name: str) -> dict:
    return {"file_id": stored.file_id, "file_unique_id": stored.unique_id, "mime_type": mime,
            "file_name": name, "file_size": stored.size}
