"""Lines typed or piped into the console chat, read without ever holding up the event loop or exit.

A daemon thread reads the raw file descriptor (not `sys.stdin`, whose buffer lock a thread
blocked in read would keep at interpreter shutdown) and hands each line to the loop. So a stop
signal can end the chat while nobody types, or while a pipe is still open, and the process exits
without waiting for input that never comes.
"""

from __future__ import annotations

import asyncio
import os
import threading

_EOF = None


class StdinLines:
    """`async for line in StdinLines(): ...` yields lines without their newline, until end of input."""

    def __init__(self, fd: int = 0) -> None:
        self._fd = fd
        self._queue: asyncio.Queue[str | None] | None = None
        self._ended = False

    def __aiter__(self) -> "StdinLines":
        if self._queue is None:
            self._queue = asyncio.Queue()
            loop = asyncio.get_running_loop()
            threading.Thread(target=self._read, args=(loop, self._queue), name="console-stdin",
                             daemon=True).start()
        return self

    async def __anext__(self) -> str:
        if self._ended:
            raise StopAsyncIteration
        assert self._queue is not None, "iterate with `async for` (or call __aiter__ first)"
        line = await self._queue.get()
        if line is _EOF:
            self._ended = True
            raise StopAsyncIteration
        return line

    def _read(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue) -> None:
        pending = b""
        while True:
            try:
                chunk = os.read(self._fd, 65536)
            except OSError:
                chunk = b""
            if chunk:
                pending += chunk
                *lines, pending = pending.split(b"\n")
            else:
                lines = [pending] if pending else []
            for raw in lines:
                if not self._post(loop, queue, raw.decode("utf-8", errors="replace").rstrip("\r")):
                    return
            if not chunk:
                self._post(loop, queue, _EOF)
                return

    @staticmethod
    def _post(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue, item: str | None) -> bool:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
            return True
        except RuntimeError:  # the loop is closed: the chat is over, nobody reads any more
            return False
