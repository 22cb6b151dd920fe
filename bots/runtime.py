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
from core.links import LinkConfig, parse_networks
from core.media import ClipLimits
from core.policy import PolicyConfig
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
    from backend.janitor import Retention
    from backend.server import LocalBackend

    config = BackendConfig(
        data_dir=Path(settings.aiwm_data_dir) / "backend",
        host="127.0.0.1",
        port=0,
        soundfont=settings.aiwm_soundfont,
    )
    retention = Retention(render_keep_after_download=settings.aiwm_render_keep_hours * 3600,
                          session_ttl=settings.aiwm_session_idle_days * 86400)
    backend = LocalBackend(config, retention)
    await backend.start()
    log.info("embedded local backend on %s", backend.url)
    try:
        yield backend.url
    finally:
        await backend.stop()


def core_config_from(settings: Settings) -> CoreConfig:
    """The core's settings as the operator set them: data folder, restrictions, clip caps."""
    max_mb = settings.aiwm_max_clip_mb
    return CoreConfig(
        data_dir=Path(settings.aiwm_data_dir),
        backend_wait=settings.aiwm_backend_wait,
        clip_ttl=settings.aiwm_clip_ttl_hours * 3600,
        housekeeping_interval=settings.aiwm_housekeeping_minutes * 60,
        clip_limits=ClipLimits(max_bytes=int(max_mb * 1024 * 1024) if max_mb else None,
                               max_seconds=settings.aiwm_max_clip_seconds),
        policy=PolicyConfig(
            allowed_users=frozenset(settings.aiwm_allowed_users),
            allowed_chats=frozenset(settings.aiwm_allowed_chats),
            rate_per_minute=settings.aiwm_rate_per_minute,
            max_jobs_per_user=settings.aiwm_max_jobs_per_user,
            max_jobs=settings.aiwm_max_jobs,
            contact=settings.aiwm_admin_contact,
        ),
        links=LinkConfig(max_bytes=int(settings.aiwm_link_max_mb * 1024 * 1024),
                         timeout_seconds=settings.aiwm_link_timeout,
                         allowed_networks=parse_networks(settings.aiwm_link_allowed_networks)),
    )


@asynccontextmanager
async def running_core(settings: Settings, surfaces=(), *, core_config: CoreConfig | None = None) -> AsyncIterator[Core]:
    """A core ready to `start()`: add every surface first, so renders left open can be resumed."""
    data_dir = Path(settings.aiwm_data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    async with embedded_or_remote_backend(settings) as base_url:
        store = await Store(data_dir / "aiwm.sqlite3").open()
        token = settings.nemo_token.get_secret_value() if settings.nemo_token else None
        client = NemoClient(base_url, token=token, credentials=store, web_url=settings.nemo_web_url,
                            render_poll_interval=settings.aiwm_render_poll_interval)
        core = Core(core_config or core_config_from(settings), client, store,
                    {surface.name: surface for surface in surfaces})
        try:
            yield core
        finally:
            await core.stop()
            await client.close()
            await store.close()
