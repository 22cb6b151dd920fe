"""Many chats at once through one client: every open turn streams at the same time.

aiohttp caps a ClientSession at 100 connections unless told otherwise; with one open turn per chat
the 101st chat would then wait for another chat's turn to end. These run against the real local
backend over loopback with turns held open, so a cap shows up as turns that never start.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from backend.config import BackendConfig
from backend.routes_chat import TICK_TOOLS
from backend.server import LocalBackend
from core.nemo.auth import MemoryCredentials
from core.nemo.client import NemoClient
from core.nemo.events import ToolCall, TurnEnded

CHATS = 150  # more than aiohttp's default of 100 connections per session
GUARD = 90.0  # an upper bound so a capped client fails instead of hanging; not a speed check


@pytest.fixture
async def backend(tmp_path):
    server = LocalBackend(BackendConfig(data_dir=tmp_path / "backend", test_mode=True))
    await server.start()
    yield server
    await server.stop()


async def _faults(url: str, faults: dict) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/_test/faults", json={"faults": faults}) as resp:
            assert resp.status == 200, await resp.text()


async def test_150_turns_are_all_open_and_ticking_at_once(backend: LocalBackend) -> None:
    # Turns that would stay open for an hour: no turn ends, so none frees a connection.
    await _faults(backend.url, {"turn_delay": 3600, "progress_ticks": 0.2})
    async with NemoClient(backend.url, credentials=MemoryCredentials()) as client:
        sessions = [await client.create_session() for _ in range(CHATS)]
        ticking: set[str] = set()
        all_ticking = asyncio.Event()

        async def turn(session_id: str) -> None:
            async for event in client.run_turn(session_id, "add lo-fi background music"):
                if isinstance(event, ToolCall) and event.name in TICK_TOOLS:
                    ticking.add(session_id)
                    if len(ticking) == CHATS:
                        all_ticking.set()

        tasks = [asyncio.create_task(turn(sid)) for sid in sessions]
        try:
            await asyncio.wait_for(all_ticking.wait(), GUARD)
        except asyncio.TimeoutError:
            pass
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    assert len(ticking) == CHATS, f"only {len(ticking)} of {CHATS} turns were streaming at once"


async def test_a_capped_client_keeps_turns_waiting(backend: LocalBackend) -> None:
    """The same scenario with an explicit cap of 2: the third turn cannot start (the fix matters)."""
    await _faults(backend.url, {"turn_delay": 3600, "progress_ticks": 0.2})
    async with NemoClient(backend.url, credentials=MemoryCredentials(), max_connections=2) as client:
        sessions = [await client.create_session() for _ in range(3)]
        ticks: dict[str, int] = {sid: 0 for sid in sessions}

        async def turn(session_id: str) -> None:
            async for event in client.run_turn(session_id, "add lo-fi background music"):
                if isinstance(event, ToolCall):
                    ticks[session_id] += 1

        tasks = [asyncio.create_task(turn(sid)) for sid in sessions]
        # Wait until the first two turns have ticked several times: the third had every chance.
        for _ in range(int(GUARD / 0.05)):
            if sum(1 for n in ticks.values() if n >= 5) >= 2:
                break
            await asyncio.sleep(0.05)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    assert sorted(ticks.values())[0] == 0, ticks
    assert sum(1 for n in ticks.values() if n >= 5) == 2, ticks


async def test_ticks_carry_the_time_they_were_written_and_alternate_tools(backend: LocalBackend) -> None:
    await _faults(backend.url, {"turn_delay": 0.7, "progress_ticks": 0.2})
    async with NemoClient(backend.url, credentials=MemoryCredentials()) as client:
        session_id = await client.create_session()
        before = time.time()
        events = [event async for event in client.run_turn(session_id, "add lo-fi background music")]
        after = time.time()
    ticks = [e for e in events if isinstance(e, ToolCall) and str(e.args.get("seq", "")).isdigit()]
    assert len(ticks) >= 2, events
    assert [t.args["seq"] for t in ticks] == list(range(len(ticks)))
    assert [t.name for t in ticks[:2]] == list(TICK_TOOLS)
    assert all(before <= t.args["sent_at"] <= after for t in ticks)
    assert isinstance(events[-1], TurnEnded) and events[-1].reason == "done"


async def test_a_cancelled_turn_leaves_no_stray_read_behind(backend: LocalBackend) -> None:
    """Cancelling open turns (/cancel, shutdown) must not leave a read that fails unobserved once the
    connection closes: asyncio logs each as 'Task exception was never retrieved' (1,000 errors in
    the log when 1,000 chats were stopped at once)."""
    loop = asyncio.get_running_loop()
    created: list[asyncio.Task] = []
    previous = loop.get_task_factory()

    def recording_factory(loop, coro, **kw):
        task = asyncio.Task(coro, loop=loop, **kw)
        created.append(task)
        return task

    loop.set_task_factory(recording_factory)
    try:
        await _faults(backend.url, {"turn_delay": 3600, "progress_ticks": 0.1})
        async with NemoClient(backend.url, credentials=MemoryCredentials()) as client:
            session_id = await client.create_session()
            ticked = asyncio.Event()

            async def turn() -> None:
                async for event in client.run_turn(session_id, "add lo-fi background music"):
                    if isinstance(event, ToolCall):
                        ticked.set()

            task = asyncio.create_task(turn())
            await asyncio.wait_for(ticked.wait(), GUARD)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            for _ in range(20):  # let the closed connection reach every pending read
                await asyncio.sleep(0.01)
    finally:
        loop.set_task_factory(previous)
    reads = [t for t in created if "readany" in repr(t.get_coro())]
    assert reads, "the turn read its stream through tasks"
    unobserved = [t for t in reads if t.done() and not t.cancelled() and t.exception() is not None]
    assert not unobserved, unobserved
    assert all(t.done() for t in reads)
