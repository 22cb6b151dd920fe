from __future__ import annotations

from pathlib import Path

import pytest

from backend.config import BackendConfig
from backend.server import LocalBackend
from tests.clips import make_clip
from tests.faults.botproc import HoldingBotApi, Rig


@pytest.fixture
async def rig(tmp_path: Path):
    fake = HoldingBotApi(tmp_path / "fake")
    await fake.start()
    # The backend lives in the test process, so it keeps rendering while the bot is dead.
    backend = LocalBackend(BackendConfig(data_dir=tmp_path / "backend", test_mode=True, heartbeat_interval=0.2))
    await backend.start()
    (tmp_path / "run").mkdir()
    the_rig = Rig(fake, backend.url, tmp_path / "bot-data", tmp_path / "run")
    yield the_rig
    await the_rig.close()
    await backend.stop()
    await fake.stop()


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("faults") / "tiny.mp4", duration=1.0, size=(160, 120))
