"""An operator-configured NEMO_TOKEN that the backend rejects: the client cannot renew it, so
every turn must end with one plain line telling the user the operator has to act, and one
ERROR log line for the operator, with the token in neither.

Real local backend over loopback, real NemoClient with a fixed token, real Core and SQLite."""

from __future__ import annotations

import logging
from pathlib import Path

import aiohttp
import pytest

from backend.config import BackendConfig
from backend.server import LocalBackend
from core.app import Core, CoreConfig
from core.i18n import say
from core.nemo.client import NemoClient
from core.store import Store
from tests.clips import make_clip
from tests.core.memory_surface import MemorySurface

WAIT = 120.0  # an upper bound so a broken build fails instead of hanging; not a speed check


async def _issued_token(url: str) -> str:
    """A real user token the backend issued (it only accepts tokens it knows)."""
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/api/auth/anonymous-token", headers={"X-Client-Id": "operator-box"}) as resp:
            body = await resp.json()
    token = body["data"]["token"]
    assert token.startswith("nmv_usr_")
    return token


async def _set_faults(url: str, faults: dict) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/_test/faults", json={"faults": faults}) as resp:
            assert resp.status == 200, await resp.text()


class OperatorRig:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.surface = MemorySurface(root)
        self.backend = LocalBackend(BackendConfig(data_dir=root / "backend", test_mode=True, heartbeat_interval=0.2))

    async def start(self) -> None:
        await self.backend.start()
        self.token = await _issued_token(self.backend.url)
        self.store = await Store(self.root / "bot.sqlite3").open()
        self.client = NemoClient(self.backend.url, token=self.token, credentials=self.store,
                                 render_poll_interval=0.1)
        self.core = Core(CoreConfig(data_dir=self.root / "bot"), self.client, self.store, {"test": self.surface})
        await self.core.start()

    async def stop(self) -> None:
        await self.core.stop()
        await self.client.close()
        await self.store.close()
        await self.backend.stop()

    async def say(self, chat: str, text: str = "", clips=(), **kw) -> None:
        await self.core.handle(self.surface.event(chat, text, list(clips), **kw))
        assert await self.core.drain(WAIT), "the core did not finish its work"


@pytest.fixture
async def rig(tmp_path: Path):
    rig = OperatorRig(tmp_path)
    await rig.start()
    yield rig
    await rig.stop()


def _all_log_text(caplog) -> str:
    return "\n".join(record.getMessage() for record in caplog.records)


async def test_a_rejected_operator_token_tells_the_user_and_the_operator(
        rig: OperatorRig, tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO)
    clip = make_clip(tmp_path / "holiday.mp4", duration=1.0, audio="tone")
    expected = say("auth_rejected", "en")

    # The token works until the backend revokes it: the chat has a session and a finished video.
    await rig.say("dm1", clips=[clip])
    assert len(rig.surface.chats["dm1"].videos) == 1, rig.surface.chats["dm1"].texts
    before = len(rig.surface.chats["dm1"].texts)

    await _set_faults(rig.backend.url, {"expired_token": True})
    await rig.say("dm1", "make it cinematic")
    text_turn = rig.surface.chats["dm1"].texts[before:]
    assert text_turn == [expected], text_turn

    await rig.say("dm1", clips=[clip])
    clip_turn = rig.surface.chats["dm1"].texts[before + 1:]
    assert clip_turn == [expected], clip_turn
    assert len(rig.surface.chats["dm1"].videos) == 1, "no new video without a working token"

    # The operator sees it once per refusal, at ERROR, and the token is in no line at all.
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR and "NEMO_TOKEN" in r.getMessage()]
    assert len(errors) == 2, [r.getMessage() for r in errors]
    assert rig.token not in _all_log_text(caplog)
    assert all(rig.token not in text for text in rig.surface.chats["dm1"].texts)


async def test_the_line_is_in_the_users_language(rig: OperatorRig) -> None:
    await _set_faults(rig.backend.url, {"expired_token": True})
    await rig.say("zh1", "把音乐调小一点", language="zh")
    texts = rig.surface.chats["zh1"].texts
    assert texts == [say("auth_rejected", "zh")], texts
    assert rig.token not in texts[0]
