"""API errors and the envelopes they travel in."""

from __future__ import annotations

import json

from aiohttp import web


class ApiError(Exception):
    """An error a handler raises; the middleware turns it into the right wire form.

    envelope: "main" -> {code,message,data}; "proxy" -> {success:false,error,code}; "adk" -> {"detail":...}.
    """

    def __init__(self, code: int, message: str, status: int = 200, envelope: str = "main",
                 data: dict | None = None, headers: dict | None = None, detail=None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.envelope = envelope
        self.data = data
        self.headers = headers or {}
        self.detail = detail

    def response(self) -> web.Response:
        if self.envelope == "adk":
            body = {"detail": self.detail if self.detail is not None else self.message}
        elif self.envelope == "proxy":
            body = {"success": False, "error": self.message, "code": self.code}
            if self.data is not None:
                body["data"] = self.data
        else:
            body = {"code": self.code, "message": self.message, "data": self.data}
        return web.Response(status=self.status, text=json.dumps(body, ensure_ascii=False),
                            content_type="application/json", headers=self.headers)


def ok(data) -> web.Response:
    return web.json_response({"code": 0, "message": "success", "data": data}, dumps=_dumps)


def proxy_ok(data) -> web.Response:
    return web.json_response({"success": True, "data": data}, dumps=_dumps)


def _dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False)
