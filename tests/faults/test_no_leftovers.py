"""No files left behind: the data folders do not grow with jobs, and kept clips expire.

The bulk run drives the real core (an in-memory chat surface), the real Nemo client and the real
local backend over loopback with tiny clips; a few more go through Telegram with the real PTB.
After the jobs, apart from the SQLite files, only the kept clips and the backend uploads they
stand for remain; when those expire (a sweep with a later clock, or short TTLs with the periodic
tasks), nothing but the databases is left.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from adapters.telegram import TelegramSurface
from backend.config import BackendConfig
from backend.janitor import Retention
from backend.server import LocalBackend
from core.app import Core, CoreConfig
from core.nemo.client import NemoClient
from core.store import Store
from tests.clips import make_clip
from tests.core.memory_surface import MemorySurface
from tests.telegram.conftest import FAST, settings_for
from tests.telegram.fake_bot_api import FakeBotApi, message, private_chat, user, video_field

WAIT = 300.0  # liveness bound for the whole bulk run on two cores, not a speed check
JOBS = 100
WAVE = 10  # chats sending at once
DAY = 24 * 3600


@dataclass(frozen=True)
class Usage:
    files: int
    size: int


def usage(root: Path, *, skip: tuple[str, ...] = ()) -> Usage:
    """Files and bytes under root, leaving out SQLite files and the named top-level folders."""
    files = size = 0
    for path in root.rglob("*"):
        if not path.is_file() or ".sqlite3" in path.name:
            continue
        if path.relative_to(root).parts[0] in skip:
            continue
        files += 1
        size += path.stat().st_size
    return Usage(files, size)


class Bench:
    """A backend, a store and a core in one data folder, as `aiwm run` lays them out."""

    def __init__(self, root: Path, retention: Retention = Retention(), **core: object) -> None:
        self.data = root / "data"
        self.surface = MemorySurface(root / "chat")  # what users received lives outside the data folder
        # One anonymous account serves every chat: enough credits for all the jobs (2 each).
        self.backend = LocalBackend(BackendConfig(data_dir=self.data / "backend", test_mode=True,
                                                  heartbeat_interval=0.2, start_credits=1000), retention)
        self.core_options = core
        self.store: Store | None = None
        self.client: NemoClient | None = None
        self.core: Core | None = None

    async def start(self) -> None:
        await self.backend.start()
        self.store = await Store(self.data / "aiwm.sqlite3").open()
        self.client = NemoClient(self.backend.url, credentials=self.store, render_poll_interval=0.1)
        self.core = Core(CoreConfig(data_dir=self.data, **self.core_options), self.client, self.store,
                         {"test": self.surface})
        await self.core.start()

    async def stop(self) -> None:
        await self.core.stop()
        await self.client.close()
        await self.store.close()
        await self.backend.stop()

    async def jobs(self, chats: list[str], clip: Path) -> None:
        for chat in chats:
            await self.core.handle(self.surface.event(chat, "", [clip]))
        assert await self.core.drain(WAIT), "the core did not finish its work"

    def delivered(self) -> int:
        return sum(len(chat.videos) for chat in self.surface.chats.values())

    def leftovers(self) -> Usage:
        """Everything but the databases, the kept clips and the backend uploads they stand for."""
        bot = usage(self.data, skip=("kept", "backend"))
        backend = usage(self.data / "backend", skip=("uploads",))
        return Usage(bot.files + backend.files, bot.size + backend.size)

    def kept_and_uploads(self) -> Usage:
        kept, uploads = usage(self.data / "kept"), usage(self.data / "backend" / "uploads")
        return Usage(kept.files + uploads.files, kept.size + uploads.size)


@pytest.fixture(scope="module")
def speck(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("leftovers") / "speck.mp4", duration=0.6, size=(96, 64))


async def test_a_hundred_jobs_leave_the_data_folder_at_its_baseline(tmp_path: Path, speck: Path) -> None:
    bench = Bench(tmp_path)
    await bench.start()
    try:
        started = time.monotonic()
        await bench.jobs(["chat-0"], speck)
        assert bench.delivered() == 1
        assert not any((bench.data / "work").iterdir()), "a job left its work folder behind"
        later = time.time() + 2 * 3600  # past the backend's keep-after-download time
        bench.backend.janitor.sweep(now=later)
        baseline = bench.leftovers()

        for wave in range(1, JOBS, WAVE):
            await bench.jobs([f"chat-{n}" for n in range(wave, min(JOBS, wave + WAVE))], speck)
        assert bench.delivered() == JOBS
        elapsed = time.monotonic() - started
        print(f"\n{JOBS} jobs in {elapsed:.1f} s")
        assert not any((bench.data / "work").iterdir()), "jobs left work folders behind"

        bench.backend.janitor.sweep(now=later)
        assert bench.leftovers() == baseline
        assert bench.kept_and_uploads().files == 2 * JOBS  # each clip: one kept copy, one backend upload

        # The kept clips expire, and with them (once their sessions go idle) the backend's uploads.
        await bench.core.housekeeping.sweep(now=time.time() + DAY + 60)
        bench.backend.janitor.sweep(now=time.time() + 8 * DAY)
        assert usage(bench.data / "kept").files == 0 and not any((bench.data / "kept").iterdir())
        assert usage(bench.data / "backend" / "uploads").files == 0
        assert usage(bench.data) == Usage(0, 0), "something besides the databases is left"
    finally:
        await bench.stop()


async def test_the_periodic_sweeps_expire_clips_renders_and_sessions(tmp_path: Path, speck: Path) -> None:
    retention = Retention(interval=0.2, render_keep_after_download=0.5, session_ttl=1.5)
    bench = Bench(tmp_path, retention, clip_ttl=1.0, housekeeping_interval=0.2)
    await bench.start()
    try:
        await bench.jobs(["chat"], speck)
        assert bench.delivered() == 1
        for _ in range(int(60 / 0.1)):  # the sweeps run on their own
            if usage(bench.data) == Usage(0, 0):
                break
            await asyncio.sleep(0.1)
        assert usage(bench.data) == Usage(0, 0), "the periodic sweeps left files behind"
        # The backend forgot the idle session and the bot its clip: a new clip still just works.
        await bench.jobs(["chat"], speck)
        assert bench.delivered() == 2
        assert not any("went wrong" in t or "again" in t for t in bench.surface.chats["chat"].texts)
    finally:
        await bench.stop()


async def test_work_folders_left_by_a_crash_are_removed_at_start(tmp_path: Path, speck: Path) -> None:
    bench = Bench(tmp_path)
    stale = bench.data / "work" / "deliver-crashed"
    stale.mkdir(parents=True)
    (stale / "rendered.mp4.part").write_bytes(b"\0" * 4096)
    render_work = bench.data / "backend" / "renders" / ".work-crashed"
    render_work.mkdir(parents=True)
    (render_work / "out.mp4").write_bytes(b"\0" * 4096)
    await bench.start()
    try:
        await asyncio.sleep(0.2)  # the janitor's first sweep runs as the backend starts
        assert not stale.exists()
        assert not render_work.exists()
    finally:
        await bench.stop()


async def test_a_few_jobs_through_telegram_leave_nothing_behind(tmp_path: Path, speck: Path) -> None:
    fake = FakeBotApi(tmp_path / "fake")
    await fake.start()
    data = tmp_path / "data"
    backend = LocalBackend(BackendConfig(data_dir=data / "backend", test_mode=True, heartbeat_interval=0.2))
    await backend.start()
    store = await Store(data / "aiwm.sqlite3").open()
    client = NemoClient(backend.url, credentials=store, render_poll_interval=0.1)
    surface = TelegramSurface.from_settings(settings_for(fake, telegram_album_wait=0.3), **FAST)
    core = Core(CoreConfig(data_dir=data), client, store, {surface.name: surface})
    surface.bind(core)
    await core.start()
    await surface.start()
    try:
        for n in range(3):
            fake.inject(message(private_chat(100 + n), user(100 + n),
                                video=video_field(fake.add_file(speck), duration=1)))
        await fake.wait_for(lambda f: len(f.of("sendVideo")) == 3, timeout=WAIT)
        assert await core.drain(WAIT)
        assert not any((data / "work").iterdir()), "a Telegram job left its work folder behind"
        backend.janitor.sweep(now=time.time() + 2 * 3600)
        assert usage(data, skip=("kept", "backend")) == Usage(0, 0)
        assert usage(data / "backend", skip=("uploads",)) == Usage(0, 0)
        assert usage(data / "kept").files == 3
        await core.housekeeping.sweep(now=time.time() + DAY + 60)
        backend.janitor.sweep(now=time.time() + 8 * DAY)
        assert usage(data) == Usage(0, 0)
    finally:
        await surface.stop()
        await core.stop()
        await client.close()
        await store.close()
        await backend.stop()
        await fake.stop()
