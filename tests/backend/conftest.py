"""A real local backend on loopback per test, and small helpers that speak its wire format."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import aiohttp
import pytest

from backend.config import BackendConfig
from backend.server import LocalBackend
from tests.clips import make_clip

SKILL_HEADERS = {"X-Skill-Source": "ai-with-music", "X-Skill-Version": "1.0", "X-Skill-Platform": "unknown"}


class Api:
    """Plain aiohttp calls against the backend, as the real client would make them."""

    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http, self.url = http, url
        self.token: str | None = None
        self.client_id = str(uuid.uuid4())

    def headers(self, **extra) -> dict:
        h = dict(SKILL_HEADERS)
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        h.update(extra)
        return h

    async def call(self, method: str, path: str, **kw) -> tuple[int, dict]:
        headers = kw.pop("headers", None) or self.headers()
        async with self.http.request(method, self.url + path, headers=headers, **kw) as resp:
            text = await resp.text()
            try:
                return resp.status, json.loads(text)
            except ValueError:
                return resp.status, {"raw": text}

    async def login(self) -> dict:
        status, body = await self.call("POST", "/api/auth/anonymous-token", headers={"X-Client-Id": self.client_id})
        assert status == 200 and body["code"] == 0, body
        self.token = body["data"]["token"]
        return body["data"]

    async def new_session(self, language: str = "en") -> str:
        status, body = await self.call("POST", "/api/tasks/me/with-session/nemo_agent",
                                       json={"task_name": "project", "language": language})
        assert body["code"] == 0, body
        return body["data"]["session_id"]

    async def upload(self, sid: str, *paths: Path) -> tuple[int, dict]:
        form = aiohttp.FormData()
        handles = [open(p, "rb") for p in paths]
        try:
            for p, fh in zip(paths, handles):
                form.add_field("files", fh, filename=Path(p).name)
            return await self.call("POST", f"/api/upload-video/nemo_agent/me/{sid}", data=form)
        finally:
            for fh in handles:
                fh.close()

    async def state(self, sid: str) -> tuple[int, dict]:
        return await self.call("GET", f"/api/state/nemo_agent/me/{sid}/latest")

    async def draft(self, sid: str) -> dict:
        status, body = await self.state(sid)
        assert body["code"] == 0, body
        return body["data"]["state"]["draft"]

    async def credits(self) -> dict:
        status, body = await self.call("GET", "/api/credits/balance/simple")
        assert body["code"] == 0, body
        return body["data"]

    async def turn_raw(self, sid: str, text: str, camel: bool = False, **extra) -> tuple[int, str, dict]:
        if camel:
            body = {"appName": "nemo_agent", "userId": "me", "sessionId": sid, "newMessage": {"parts": [{"text": text}]}}
        else:
            body = {"app_name": "nemo_agent", "user_id": "me", "session_id": sid,
                    "new_message": {"parts": [{"text": text}]}}
        body.update(extra)
        async with self.http.post(self.url + "/run_sse", json=body, headers=self.headers()) as resp:
            raw = (await resp.read()).decode()
            return resp.status, raw, dict(resp.headers)

    async def turn(self, sid: str, text: str, **kw) -> "Turn":
        status, raw, headers = await self.turn_raw(sid, text, **kw)
        assert status == 200 and headers["Content-Type"].startswith("text/event-stream"), raw
        return Turn(raw)

    async def faults(self, faults: dict, session_id: str | None = None) -> None:
        body = {"faults": faults}
        if session_id:
            body["session_id"] = session_id
        async with self.http.post(self.url + "/_test/faults", json=body) as resp:
            assert resp.status == 200, await resp.text()

    async def submit(self, sid: str, render_id: str | None = None, draft: dict | None = None,
                     headers: dict | None = None, **extra) -> tuple[int, dict]:
        body = {"id": render_id or f"render_{uuid.uuid4().hex}", "sessionId": sid,
                "draft": draft if draft is not None else await self.draft(sid)}
        body.update(extra)
        return await self.call("POST", "/api/render/proxy/lambda", json=body, headers=headers or self.headers())

    async def poll(self, render_id: str) -> dict:
        status, body = await self.call("GET", f"/api/render/proxy/lambda/{render_id}")
        assert status == 200, body
        return body

    async def wait_render(self, render_id: str, until=("completed", "failed"), limit: float = 120) -> dict:
        """Poll until the status is one of `until` (the limit only stops a hung test)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + limit
        while True:
            body = await self.poll(render_id)
            data = body.get("data", body)
            if data["status"] in until:
                return data
            assert loop.time() < end, f"render stuck: {data}"
            await asyncio.sleep(0.05)


class Turn:
    """A parsed /run_sse stream: frames in order, plus views a client would use."""

    def __init__(self, raw: str) -> None:
        self.raw = raw
        self.blocks = [b for b in raw.replace("\r\n", "\n").split("\n\n") if b]
        self.events: list[dict] = []
        self.heartbeats: list[str] = []
        self.errors: list[str] = []
        for block in self.blocks:
            lines = block.split("\n")
            data = [line[5:].removeprefix(" ") for line in lines if line.startswith("data:")]
            if all(line.startswith(":") for line in lines) or not data or data == [""] or data == ["heartbeat"]:
                self.heartbeats.append(block)
                continue
            payload = "\n".join(data)
            try:
                value = json.loads(payload)
            except ValueError:
                self.errors.append(payload)
                continue
            if value.get("type") == "heartbeat":
                self.heartbeats.append(block)
            elif "error" in value:
                self.errors.append(value["error"])
            else:
                self.events.append(value)

    def parts(self, key: str) -> list[dict]:
        return [p[key] for e in self.events for p in e.get("content", {}).get("parts", []) if key in p]

    @property
    def texts(self) -> list[str]:
        return [p["text"] for e in self.events if not e.get("partial") for p in e["content"]["parts"] if "text" in p]

    @property
    def partials(self) -> list[str]:
        return [p["text"] for e in self.events if e.get("partial") for p in e["content"]["parts"] if "text" in p]

    @property
    def text(self) -> str:
        return " ".join(self.texts)


@pytest.fixture
def config(tmp_path) -> BackendConfig:
    return BackendConfig(data_dir=tmp_path / "data", test_mode=True, heartbeat_interval=0.05)


@pytest.fixture
async def backend(config):
    async with LocalBackend(config) as b:
        yield b


@pytest.fixture
async def http():
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=180)) as session:
        yield session


@pytest.fixture
async def api(backend, http) -> Api:
    client = Api(http, backend.url)
    await client.login()
    return client


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="session")
def clip(clip_dir) -> Path:
    return make_clip(clip_dir / "clip.mp4", duration=3.0)


@pytest.fixture(scope="session")
def clip2(clip_dir) -> Path:
    return make_clip(clip_dir / "second.mov", duration=1.5, size=(240, 320), audio=None)


async def session_with_clip(api: Api, clip: Path, language: str = "en") -> str:
    sid = await api.new_session(language)
    status, body = await api.upload(sid, clip)
    assert body["code"] == 0, body
    return sid
