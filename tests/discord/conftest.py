"""Fixtures: a fake Discord on loopback, real clips, and a surface started against them."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Awaitable, Callable

import pytest

from adapters.discord import DiscordConfig, DiscordSurface
from core.events import InboundEvent
from core.ports import OutgoingVideo, Progress
from tests.clips import make_clip
from tests.discord.fake_discord import GUILD_ID, FakeDiscord


class ManualClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


async def until(condition: Callable[[], object], timeout: float = 15.0) -> None:
    """Wait for something the bot does in the background (the timeout only guards against hangs)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the expected thing never happened")
        await asyncio.sleep(0.01)


Script = Callable[[InboundEvent, Path], Awaitable[None]]


async def echo_script(event: InboundEvent, work: Path) -> None:
    """What a core does, in miniature: show progress, fetch the clip, send it back as the video."""
    port = event.reply
    if not event.media:
        await port.send_text(f"handled {event.command or 'message'}: {event.text}".strip())
        return
    await port.progress_start(Progress("📥 Getting your clip", 0))
    path = await event.media[0].fetch(work)
    for pct in (25, 50, 75, 100):
        await port.progress_update(Progress("🎬 Rendering the video", pct))
    await port.send_video(OutgoingVideo(path=path, width=320, height=240, duration=2.0,
                                        caption=f"🎵 Here it is ({event.text or 'auto'})"))
    await port.progress_finish(None)


class RecordingHandler:
    """An EventHandler that records what arrived and runs a script through the real reply port."""

    def __init__(self, fake: FakeDiscord, work: Path, script: Script = echo_script) -> None:
        self.fake = fake
        self.work = work
        self.script = script
        self.events: list[InboundEvent] = []
        self.callbacks_seen_at_handle: list[int] = []
        self.tasks: list[asyncio.Task] = []
        self.limits_seen: list[int] = []
        self.errors: list[BaseException] = []

    async def handle(self, event: InboundEvent) -> None:
        self.callbacks_seen_at_handle.append(len(self.fake.callbacks))
        self.events.append(event)
        self.limits_seen.append(event.reply.limits().max_upload_bytes)
        self.tasks.append(asyncio.create_task(self._run(event)))

    async def _run(self, event: InboundEvent) -> None:
        try:
            await self.script(event, self.work / f"job{len(self.events)}")
        except BaseException as error:  # noqa: BLE001 - surfaced by wait_done
            self.errors.append(error)
            raise

    async def wait_done(self, count: int = 1) -> None:
        await until(lambda: len(self.tasks) >= count)
        await asyncio.wait_for(asyncio.gather(*self.tasks, return_exceptions=True), 60)
        if self.errors:
            raise self.errors[0]


@pytest.fixture
async def fake():
    server = FakeDiscord()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture(scope="session")
def clip(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clips") / "clip.mp4", duration=1.5)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def start_surface(fake: FakeDiscord, tmp_path: Path, clock: ManualClock):
    started: list[DiscordSurface] = []

    async def start(script: Script = echo_script, **config) -> tuple[DiscordSurface, RecordingHandler]:
        handler = RecordingHandler(fake, tmp_path / "work", script)
        values = dict(token="fake-bot-token", api_url=fake.url, staging_dir=tmp_path / "staging",
                      progress_interval=0.0, token_margin=0.0)
        values.update(config)
        surface = DiscordSurface(None, handler, config=DiscordConfig(**values), clock=clock)
        started.append(surface)
        await surface.start()
        # READY and the guild arrived (discord.py's own "ready" waits 2 s for more guilds).
        await until(lambda: surface.client.get_guild(GUILD_ID) is not None)
        return surface, handler

    yield start
    for surface in started:
        await surface.stop()
