"""State survives a restart: accounts, tokens, sessions, drafts, uploads and renders."""

from __future__ import annotations

import json

import pytest

from backend.renders import RESTARTED
from backend.server import LocalBackend
from tests.backend.conftest import Api, session_with_clip

pytest.importorskip("engine.styles")


async def test_everything_survives_a_restart(config, http, clip):
    async with LocalBackend(config) as first:
        api = Api(http, first.url)
        user = await api.login()
        sid = await session_with_clip(api, clip)
        await api.turn(sid, "add lo-fi music")
        await api.turn(sid, 'title "Still Here" for 1s')
        draft_before = await api.draft(sid)
        status, state = await api.state(sid)
        cdn_url = state["data"]["state"]["video_infos"][0]["cdn_url"]
    async with LocalBackend(config) as second:
        api.url = second.url
        assert await api.credits() == {"available": 99, "frozen": 0, "total": 99}  # same token still valid
        draft_after = await api.draft(sid)
        # same edit; links now point at the new address
        old_base, new_base = cdn_url.split("/cdn/")[0], second.url
        assert draft_after == json.loads(json.dumps(draft_before).replace(old_base, new_base))
        status, state = await api.state(sid)
        async with http.get(state["data"]["state"]["video_infos"][0]["cdn_url"]) as resp:
            assert resp.status == 200 and await resp.read() == clip.read_bytes()
        again = Api(http, second.url)
        again.client_id = api.client_id
        assert (await again.login())["user_id"] == user["user_id"]
        turn = await api.turn(sid, "music at 40%")
        assert "40%" in turn.text


async def test_render_running_at_shutdown_is_failed_and_refunded(config, http, clip):
    async with LocalBackend(config) as first:
        api = Api(http, first.url)
        await api.login()
        sid = await session_with_clip(api, clip)
        await api.faults({"render_delay": 60}, sid)
        await api.submit(sid, "render_interrupted")
        await api.wait_render("render_interrupted", until=("processing",))
        assert (await api.credits())["frozen"] == 1
    async with LocalBackend(config) as second:
        api.url = second.url
        data = (await api.poll("render_interrupted"))["data"]
        assert data["status"] == "failed" and data["error"] == RESTARTED
        assert await api.credits() == {"available": 100, "frozen": 0, "total": 100}
