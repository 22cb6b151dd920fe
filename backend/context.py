"""What every handler shares: config, store, faults, renders, and the auth/session checks."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import uuid

import aiohttp
from aiohttp import web

from backend import accounts
from backend.config import BackendConfig
from backend.draft import build_draft, new_edit
from backend.errors import ApiError
from backend.faults import Faults
from backend.renders import RenderManager
from backend.store import Store
from backend.uploads import remove_orphans

KEY = web.AppKey("backend", object)
log = logging.getLogger(__name__)


class Backend:
    def __init__(self, config: BackendConfig) -> None:
        self.config = config
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = Store(config.data_dir / "backend.sqlite3")
        self.faults = Faults()
        self.renders = RenderManager(self.store, config, self.faults)
        self.renders.recover()
        self.uploads_dir = config.data_dir / "uploads"
        if remove_orphans(self.uploads_dir, (u["path"] for u in self.store.all("uploads"))):
            log.info("removed upload files a previous run left unfinished")
        self.request_log: list[dict] = []
        self.http: aiohttp.ClientSession | None = None  # for uploads by URL
        self._turn_locks: dict[str, asyncio.Lock] = {}

    def log_request(self, entry: dict) -> None:
        """Note a request for /_test/requests, and in BackendConfig.request_file when set (test mode),
        so tests can still count what a backend that was SIGKILLed had been asked."""
        self.request_log.append(entry)
        if self.config.test_mode and self.config.request_file is not None:
            with open(self.config.request_file, "a", encoding="utf-8") as out:
                out.write(json.dumps(entry) + "\n")

    def turn_lock(self, session_id: str) -> asyncio.Lock:
        """One chat turn at a time per session, so two turns never overwrite each other's edit."""
        return self._turn_locks.setdefault(session_id, asyncio.Lock())

    def base_url(self, request: web.Request) -> str:
        return (self.config.public_url or str(request.url.origin())).rstrip("/")

    # -- checks shared by handlers ---------------------------------------------------------------

    def authenticate(self, request: web.Request, session_id: str | None = None, envelope: str = "main") -> dict:
        header = request.headers.get("Authorization")
        try:
            if self.faults.consume("expired_token", session_id):
                accounts.revoke(self.store, header)
            return accounts.user_for_token(self.store, header)
        except ApiError as exc:
            exc.envelope = envelope
            raise

    def session(self, user: dict, session_id: str | None, envelope: str = "main") -> dict:
        if session_id and self.faults.consume("lost_session", session_id):
            self.store.delete("sessions", session_id)
        session = self.store.get("sessions", session_id) if session_id else None
        if session is None or session["user_id"] != user["user_id"]:
            if envelope == "adk":
                raise ApiError(404, "Session not found", status=404, envelope="adk")
            raise ApiError(1002, "That editing session no longer exists; please start a new one.", envelope=envelope)
        return session

    def available_credits(self, user: dict, session_id: str | None = None) -> int:
        return accounts.available(user, bool(self.faults.get(session_id).get("no_credits")))

    def out_of_credits(self, user: dict, envelope: str = "main") -> ApiError:
        return accounts.out_of_credits(user, self.config.web_url, envelope)

    # -- sessions --------------------------------------------------------------------------------

    def create_session(self, user: dict, language: str | None, task_name: str) -> dict:
        session = {"session_id": str(random.randint(10**18, 10**19 - 1)), "task_id": f"task_{uuid.uuid4().hex[:16]}",
                   "user_id": user["user_id"], "task_name": task_name, "language": language or "en",
                   "uploads": [], "edit": new_edit(), "history": []}
        return self.store.put("sessions", session["session_id"], session)

    def session_uploads(self, session: dict) -> dict[str, dict]:
        found = (self.store.get("uploads", u) for u in session["uploads"])
        return {u["id"]: u for u in found if u}

    def draft(self, session: dict, request: web.Request) -> dict:
        return build_draft(session["edit"], self.session_uploads(session), self.base_url(request),
                           session.get("task_name") or "project")

    async def close(self) -> None:
        await self.renders.close()
        if self.http is not None:
            await self.http.close()
        self.store.close()


def backend_of(request: web.Request) -> Backend:
    return request.app[KEY]
