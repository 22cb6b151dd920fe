"""Typed turn events, decoded from `/run_sse` frames (nemo-api.md §9.2-§9.6).

The wire carries Google ADK Events (camelCase; snake_case before ADK 1.0), heartbeats in an
unknown form, an in-stream `{"error": ...}` frame, and possibly legacy `{"type": ...}` frames.
`TurnDecoder` turns each parsed SSE item into zero or more of the events below and remembers the
turn's text so the client can close the turn with one `TurnEnded`.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from core.nemo.sse import SSEComment, SSEEvent, SSEItem

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TextDelta:
    """A chunk of text from a partial (streaming) event; the aggregate `Text` follows."""

    text: str


@dataclass(frozen=True)
class Text:
    """A complete piece of agent text (reasoning `thought` parts are never included)."""

    text: str


@dataclass(frozen=True)
class ToolCall:
    name: str
    args: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ToolResult:
    name: str
    response: Any = None


@dataclass(frozen=True)
class Heartbeat:
    """The backend is alive but has nothing to say yet."""


@dataclass(frozen=True)
class AgentError:
    """A model error reported as an ordinary event (`errorCode` / `errorMessage`)."""

    code: str | None
    message: str | None


@dataclass(frozen=True)
class StreamError:
    """The runner failed: the final `{"error": ...}` frame. The turn ends after it."""

    message: str


EndReason = Literal["done", "cut", "watchdog", "cancelled"]


@dataclass(frozen=True)
class TurnEnded:
    """Always the last event of a turn.

    reason: "done" the backend closed the stream; "cut" the connection broke mid-stream;
    "watchdog" the client gave up (total limit, or heartbeats only for too long); "cancelled" the
    caller cancelled the turn. text: all agent text of the turn, joined by newlines. error: the
    stream error or the last agent error message, if any.
    """

    reason: EndReason
    text: str = ""
    error: str | None = None


TurnEvent = TextDelta | Text | ToolCall | ToolResult | Heartbeat | AgentError | StreamError | TurnEnded

_HEARTBEAT_WORDS = {"heartbeat", "ping", "keepalive", "keep-alive"}
# ADK <= 1.4 built the error frame with an f-string: the JSON may be broken by quotes inside.
_BROKEN_ERROR = re.compile(r'^\s*\{\s*"error"\s*:\s*"?(?P<msg>.*?)"?\s*\}\s*$', re.S)


class TurnDecoder:
    """Decodes one turn's SSE items; keeps the text so far."""

    def __init__(self) -> None:
        self._texts: list[str] = []  # complete (non-partial) texts, in order
        self._delta = ""  # partial text not yet replaced by its aggregate
        self.error: str | None = None
        self.stream_error = False

    @property
    def text(self) -> str:
        parts = self._texts + ([self._delta] if self._delta else [])
        return "\n".join(p for p in parts if p)

    def finish(self, reason: EndReason, error: str | None = None) -> TurnEnded:
        return TurnEnded(reason, self.text, error if error is not None else self.error)

    def decode(self, item: SSEItem) -> list[TurnEvent]:
        if isinstance(item, SSEComment):
            return [Heartbeat()]
        assert isinstance(item, SSEEvent)
        data = item.data.strip()
        if item.type.lower() in _HEARTBEAT_WORDS or not data or data.lower() in _HEARTBEAT_WORDS:
            return [Heartbeat()]
        try:
            frame = json.loads(data)
        except ValueError:
            return self._unparsable(data)
        if not isinstance(frame, dict):
            log.debug("ignoring a non-object SSE frame (%d chars)", len(data))
            return []
        if isinstance(frame.get("type"), str) and not isinstance(frame.get("content"), dict):
            return self._legacy(frame)
        if frame.get("error") is not None and not isinstance(frame.get("content"), dict):
            return self._stream_error(frame["error"])
        return self._adk(frame)

    # --- ADK events ----------------------------------------------------------------------

    def _adk(self, frame: dict) -> list[TurnEvent]:
        out: list[TurnEvent] = []
        code = _first(frame, "errorCode", "error_code")
        message = _first(frame, "errorMessage", "error_message")
        content = frame.get("content")
        parts = content.get("parts") if isinstance(content, dict) else None
        partial = bool(frame.get("partial"))
        texts: list[str] = []
        for part in parts if isinstance(parts, list) else []:
            if not isinstance(part, dict):
                continue
            text = part.get("text")
            if isinstance(text, str) and text and not part.get("thought"):
                texts.append(text)
            call = _first(part, "functionCall", "function_call")
            if isinstance(call, dict):
                args = call.get("args")
                out.append(ToolCall(str(call.get("name") or ""), args if isinstance(args, dict) else {}))
            response = _first(part, "functionResponse", "function_response")
            if isinstance(response, dict):
                out.append(ToolResult(str(response.get("name") or ""), response.get("response")))
        if texts:
            out.insert(0, self._text("".join(texts), partial))
        if code is not None or message is not None:
            self.error = str(message or code)
            out.append(AgentError(None if code is None else str(code), None if message is None else str(message)))
        return out

    def _text(self, text: str, partial: bool) -> TurnEvent:
        if partial:
            self._delta += text
            return TextDelta(text)
        self._delta = ""  # the aggregate replaces the deltas streamed before it
        self._texts.append(text)
        return Text(text)

    # --- in-stream error and legacy frames ------------------------------------------------

    def _stream_error(self, error: Any) -> list[TurnEvent]:
        if isinstance(error, dict):
            error = error.get("message") or error.get("detail") or json.dumps(error)
        message = str(error) if error not in (None, "") else "the agent stopped with an error"
        self.error = message
        self.stream_error = True
        return [StreamError(message)]

    def _unparsable(self, data: str) -> list[TurnEvent]:
        if "error" in data.lower():
            match = _BROKEN_ERROR.match(data)
            return self._stream_error(match.group("msg") if match else data)
        log.debug("ignoring an SSE frame that is not JSON (%d chars)", len(data))
        return []

    def _legacy(self, frame: dict) -> list[TurnEvent]:
        kind = str(frame.get("type") or "").lower()
        if kind in _HEARTBEAT_WORDS:
            return [Heartbeat()]
        if kind in ("text", "content", "message"):
            text = _first(frame, "content", "text", "message")
            return [self._text(str(text), False)] if isinstance(text, str) and text else []
        if kind in ("delta", "text_delta", "partial"):
            text = _first(frame, "content", "text", "delta")
            return [self._text(str(text), True)] if isinstance(text, str) and text else []
        if kind in ("tool_call", "function_call", "tool_use"):
            args = _first(frame, "args", "arguments", "input")
            return [ToolCall(str(frame.get("name") or ""), args if isinstance(args, dict) else {})]
        if kind in ("tool_result", "function_response", "tool_response"):
            return [ToolResult(str(frame.get("name") or ""), _first(frame, "response", "result", "content"))]
        if kind == "error":
            return self._stream_error(_first(frame, "message", "error", "content"))
        log.debug("ignoring a legacy frame of type %r", kind[:40])
        return []


def _first(mapping: dict, *keys: str) -> Any:
    for key in keys:
        if mapping.get(key) is not None:
            return mapping[key]
    return None
