from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from adapters.telegram import TelegramSurface
from bots.settings import Settings
from tests.clips import make_clip
from tests.telegram.fake_bot_api import TOKEN, FakeBotApi
from tests.telegram.recording_handler import RecordingHandler


@pytest.fixture
async def fake(tmp_path: Path):
    api = FakeBotApi(tmp_path / "fake")
    await api.start()
    yield api
    await api.stop()


@pytest.fixture
def handler(tmp_path: Path) -> RecordingHandler:
    return RecordingHandler(tmp_path / "work")


def settings_for(fake: FakeBotApi, **values) -> Settings:
    """The real settings object, as `aiwm run` would read it from the environment."""
    return Settings(_env_file=None, telegram_bot_token=TOKEN, telegram_api_url=fake.api_url,
                    telegram_file_url=fake.file_url, **values)


# Quick timings for tests; production defaults live in TelegramConfig.
FAST = dict(poll_timeout=1, album_max_wait=5.0, edit_interval=0.2, group_edit_interval=0.2,
            action_interval=0.5, group_action_interval=0.5)


@pytest.fixture
async def running(fake, handler):
    """Start a surface (settings from `settings_for`) and stop every one started in the test."""
    started: list[TelegramSurface] = []

    async def start(event_handler=None, settings_values: dict | None = None, **overrides) -> TelegramSurface:
        values = {"telegram_album_wait": 0.3, **(settings_values or {})}
        surface = TelegramSurface.from_settings(settings_for(fake, **values), event_handler or handler,
                                                **{**FAST, **overrides})
        await surface.start()
        started.append(surface)
        return surface

    yield start
    for surface in started:
        with contextlib.suppress(Exception):
            await surface.stop()


@pytest.fixture(scope="session")
def clip(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clips") / "clip.mp4", duration=2.0, size=(320, 240))


@pytest.fixture(scope="session")
def silent_clip(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clips") / "silent.mp4", duration=1.5, size=(240, 240), audio=None)
