"""Writing ADK-format events and heartbeats onto an SSE response.

Every frame is `data: <Event JSON, camelCase, no nulls>\\n\\n` with no `event:`/`id:` fields and
no "done" frame, as ADK's /run_sse does; heartbeats use one of the forms NemoVideo's gateway may
add (nemo-api.md §9.5).
"""

from __future__ import annotations

import json
import random
import string
import time
import uuid

from aiohttp import web

HEARTBEATS = {
    "comment": ": heartbeat\n\n",
    "empty": "data: \n\n",
    "word": "data: heartbeat\n\n",
    "event": "event: heartbeat\ndata: heartbeat\n\n",
    "json": 'data: {"type":"heartbeat"}\n\n',
    "none": "",
}
AGENT_NAME = "nemo_agent"


def _event_id() -> str:
    return "".join(random.choices(string.ascii_letters + string.digits, k=8))


class EventWriter:
    def __init__(self, response: web.StreamResponse, heartbeat_style: str = "comment") -> None:
        self.response = response
        self.invocation_id = f"e-{uuid.uuid4()}"
        self.heartbeat_style = heartbeat_style
        self.frames = 0

    async def _write(self, text: str) -> None:
        if text:
            await self.response.write(text.encode("utf-8"))
            self.frames += 1

    async def event(self, content: dict | None = None, **fields) -> None:
        event = {}
        if content is not None:
            event["content"] = content
        event.update({k: v for k, v in fields.items() if v is not None})
        event.update({
            "invocationId": self.invocation_id,
            "author": AGENT_NAME,
            "actions": {"stateDelta": {}, "artifactDelta": {}, "requestedAuthConfigs": {},
                        "requestedToolConfirmations": {}},
            "id": _event_id(),
            "timestamp": time.time(),
        })
        await self._write("data: " + json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n\n")

    async def function_call(self, call_id: str, name: str, args: dict) -> None:
        await self.event({"parts": [{"functionCall": {"id": call_id, "args": args, "name": name}}], "role": "model"},
                         longRunningToolIds=[])

    async def function_response(self, call_id: str, name: str, response: dict) -> None:
        await self.event({"parts": [{"functionResponse": {"id": call_id, "name": name, "response": response}}],
                          "role": "user"})

    async def text(self, text: str, partial: bool = False) -> None:
        await self.event({"parts": [{"text": text}], "role": "model"}, partial=True if partial else None)

    async def heartbeat(self) -> None:
        await self._write(HEARTBEATS.get(self.heartbeat_style, ""))

    async def error(self, message: str, form: str = "json") -> None:
        if form == "fstring":
            # ADK <= 1.4 built this with an f-string: quotes in the message make it invalid JSON.
            await self._write(f'data: {{"error": "{message}"}}\n\n')
        else:
            await self._write("data: " + json.dumps({"error": message}, ensure_ascii=False) + "\n\n")


def text_chunks(text: str, size: int = 12) -> list[str]:
    """Split a reply into word-aligned deltas, like a model streaming tokens."""
    chunks, current = [], ""
    for piece in text.split(" "):
        candidate = piece if not current else current + " " + piece
        if len(candidate) > size and current:
            chunks.append(current + " ")
            current = piece
        else:
            current = candidate
    if current:
        chunks.append(current)
    if len(chunks) == 1 and len(text) > size:  # no spaces (Chinese): split by characters
        chunks = [text[i:i + size] for i in range(0, len(text), size)]
    return chunks
