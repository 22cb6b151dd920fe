"""An incremental parser for `text/event-stream` (WHATWG HTML, "Server-sent events", §9.2.6).

Why hand-written: SSE client libraries reconnect and re-POST when a stream ends, which on
`/run_sse` runs and charges a generation again (dependencies.md §3). This parser only parses:
feed it raw byte chunks in any split, it returns what the spec dispatches, plus comment lines
(the spec drops those, but the backend may use them as heartbeats).

Spec points kept: one leading UTF-8 BOM is dropped; lines end with CRLF, LF or CR (also when a CR
and its LF arrive in different chunks); `field:value` drops exactly one space after the colon; a
line without a colon is a field with an empty value; `data` lines are joined with "\n"; an empty
`data:` dispatches an event with empty data; `event` sets the type ("message" when empty); `id`
sets the last event id (kept across events, ignored when it holds NUL); `retry` takes ASCII digits
only; an unfinished event at the end of the stream is discarded.
"""

from __future__ import annotations

from dataclasses import dataclass

BOM = b"\xef\xbb\xbf"
DEFAULT_MAX_LINE_BYTES = 64 * 1024 * 1024  # inlineData parts can make one line several MB


@dataclass(frozen=True)
class SSEEvent:
    """One dispatched event."""

    data: str
    type: str = "message"
    id: str = ""  # the last event id in force when this event was dispatched
    retry: int | None = None  # the reconnection time last set by the stream, in ms


@dataclass(frozen=True)
class SSEComment:
    """A comment line (`: text`); the text has leading whitespace removed."""

    text: str


SSEItem = SSEEvent | SSEComment


class LineTooLong(ValueError):
    """A single line grew past the configured maximum without a line end."""


class SSEParser:
    """Feed bytes with `feed()`, get events and comments back; call `close()` at the end."""

    def __init__(self, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        self.max_line_bytes = max_line_bytes
        self._buffer = bytearray()
        self._scanned = 0  # bytes of _buffer already searched for a line end
        self._skip_lf = False  # the previous chunk ended in CR: a leading LF belongs to it
        self._first_line = True
        self._data: list[str] = []
        self._type = ""
        self._last_id = ""
        self._retry: int | None = None

    def feed(self, chunk: bytes) -> list[SSEItem]:
        out: list[SSEItem] = []
        if not chunk:
            return out
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        self._buffer += chunk
        buf = self._buffer
        start = 0
        while True:
            end = _find_line_end(buf, max(start, self._scanned))
            if end < 0:
                break
            line = bytes(buf[start:end])
            if buf[end] == 0x0D:  # CR: swallow a following LF, now or in the next chunk
                if end + 1 < len(buf):
                    start = end + 2 if buf[end + 1] == 0x0A else end + 1
                else:
                    start = end + 1
                    self._skip_lf = True
            else:
                start = end + 1
            self._scanned = start
            self._line(line, out)
        if start:
            del buf[:start]
        self._scanned = len(buf)
        if len(buf) > self.max_line_bytes:
            raise LineTooLong(f"an event-stream line exceeded {self.max_line_bytes} bytes")
        return out

    def close(self) -> list[SSEItem]:
        """End of stream: per spec an event without its closing blank line is not dispatched."""
        self._buffer.clear()
        self._scanned = 0
        self._data = []
        self._type = ""
        return []

    def _line(self, raw: bytes, out: list[SSEItem]) -> None:
        if self._first_line:
            self._first_line = False
            if raw.startswith(BOM):
                raw = raw[len(BOM):]
        line = raw.decode("utf-8", errors="replace")
        if not line:
            self._dispatch(out)
            return
        if line[0] == ":":
            out.append(SSEComment(line[1:].lstrip()))
            return
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._type = value
        elif name == "id":
            if "\x00" not in value:
                self._last_id = value
        elif name == "retry":
            if value and value.isascii() and value.isdigit():
                self._retry = int(value)
        # any other field name is ignored (spec)

    def _dispatch(self, out: list[SSEItem]) -> None:
        if self._data:
            out.append(SSEEvent("\n".join(self._data), self._type or "message", self._last_id, self._retry))
        self._data = []
        self._type = ""


def _find_line_end(buf: bytearray, start: int) -> int:
    """Index of the first CR or LF at or after start, or -1."""
    lf = buf.find(b"\n", start)
    cr = buf.find(b"\r", start, lf if lf >= 0 else len(buf))
    return cr if cr >= 0 else lf


def parse_all(data: bytes, chunks: list[int] | None = None) -> list[SSEItem]:
    """Parse a complete stream (optionally split at the given offsets); handy for tests and tools."""
    parser = SSEParser()
    out: list[SSEItem] = []
    cuts = sorted(set(chunks or [])) + [len(data)]
    pos = 0
    for cut in cuts:
        out.extend(parser.feed(data[pos:cut]))
        pos = cut
    out.extend(parser.close())
    return out
