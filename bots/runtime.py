"""Wiring: settings -> backend (the embedded local one unless NEMO_API_URL is set) -> client ->
store -> core. Every command that runs the bot goes through `running_core`, so the console,
Telegram and Discord all get the same core, and everything is closed in reverse order.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

from bots.settings import Settings
from core.app import Core, CoreConfig
from core.nemo.client import NemoClient
from core.store import Store

log = logging.getLogger(__name__)


@asynccontextmanager
async def embedded_or_remote_backend(settings: Settings) -> AsyncIterator[str]:
    """The backend's base URL: NEMO_API_URL when set, else our local backend started in-process."""
    if settings.nemo_api_url:
        yield settings.nemo_api_url.rstrip("/")
        return
    from backend.config import BackendConfig
    from backend.server import LocalBackend

    config = BackendConfig(
        data_dir=Path(settings.aiwm_data_dir) / "backend",
        host="127.0.0.1",
        port=0,
        soundfont=settings.aiwm_soundfont,
    )
    backend = LocalBackend(config)
    await backend.start()
    log.info("embedded local backend on %s", backend.url)
    try:
        yield backend.url
    finally:
        await backend.stop()


@asynccontextmanager
async def running_core(settings: Settings, surfaces=(), *, core_config: CoreConfig | None = None) -> AsyncIterator[Core]:
    """A core ready to `start()`: add every surface first, so renders left open can be resumed."""
    data_dir = Path(settings.aiwm_data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    async with embedded_or_remote_backend(settings) as base_url:
        store = await Store(data_dir / "aiwm.sqlite3").open()
        token = settings.nemo_token.get_secret_value() if settings.nemo_token else None
        client = NemoClient(base_url, token=token, credentials=store, web_url=settings.nemo_web_url)
        core = Core(core_config or CoreConfig(data_dir=data_dir), client, store,
                    {surface.name: surface for surface in surfaces})
        try:
            yield core
        finally:
            await core.stop()
            await client.close()
            await store.close()
