"""A tiny scripted HTTP server on loopback, for client tests that need exact wire control."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Fake:
    """Routes are (method, path) -> handler; every request is recorded (method, path, headers)."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Handler] = {}
        self.prefixes: list[tuple[str, str, Handler]] = []
        self.requests: list[tuple[str, str, dict]] = []
        self.server: TestServer | None = None

    def on(self, method: str, path: str, handler: Handler) -> None:
        self.routes[(method, path)] = handler

    def on_prefix(self, method: str, prefix: str, handler: Handler) -> None:
        self.prefixes.append((method, prefix, handler))

    def count(self, method: str, path: str) -> int:
        return sum(1 for m, p, _ in self.requests if m == method and p == path)

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/")).rstrip("/")

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.method, request.path, dict(request.headers)))
        handler = self.routes.get((request.method, request.path))
        if handler is None:
            handler = next((h for m, p, h in self.prefixes
                            if m == request.method and request.path.startswith(p)), None)
        if handler is None:
            return web.json_response({"detail": "Not Found"}, status=404)
        return await handler(request)


def envelope(data, code: int = 0, status: int = 200, headers: dict | None = None) -> web.Response:
    return web.json_response({"code": code, "message": "ok" if code == 0 else "error", "data": data},
                             status=status, headers=headers)


def token_route(tokens: list[str]) -> Handler:
    """Anonymous-token endpoint handing out the given tokens in order."""
    async def handler(request: web.Request) -> web.Response:
        if not request.headers.get("X-Client-Id"):
            return web.json_response({"detail": "X-Client-Id required"}, status=400)
        token = tokens.pop(0) if len(tokens) > 1 else tokens[0]
        return envelope({"token": token, "user_id": "anon_42", "expires_at": "2999-01-01T00:00:00Z",
                         "credits": 100})
    return handler


async def safe_write(resp: web.StreamResponse, data: bytes) -> bool:
    try:
        await resp.write(data)
        return True
    except (ConnectionResetError, RuntimeError):
        return False


def sse_frame(obj) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


@pytest.fixture
async def fake():
    fake = Fake()
    app = web.Application(client_max_size=1024 ** 3)
    app.router.add_route("*", "/{tail:.*}", fake._dispatch)
    fake.server = TestServer(app, host="127.0.0.1")
    await fake.server.start_server()
    try:
        yield fake
    finally:
        await fake.server.close()
