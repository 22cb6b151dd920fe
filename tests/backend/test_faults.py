"""Every fault switch, observed on the wire the way a client would see it."""

from __future__ import annotations

import aiohttp
import pytest

from backend.config import BackendConfig
from backend.server import LocalBackend
from tests.backend.conftest import Api, session_with_clip

pytest.importorskip("engine.styles")

HEARTBEAT_FRAMES = {
    "comment": ": heartbeat",
    "empty": "data: ",
    "word": "data: heartbeat",
    "event": "event: heartbeat\ndata: heartbeat",
    "json": 'data: {"type":"heartbeat"}',
}


@pytest.mark.parametrize("style", sorted(HEARTBEAT_FRAMES))
async def test_heartbeat_styles(api, clip, style):
    sid = await session_with_clip(api, clip)
    await api.faults({"heartbeat": style, "turn_delay": 0.2, "heartbeat_interval": 0.05}, sid)
    turn = await api.turn(sid, "add lo-fi music")
    assert len(turn.heartbeats) >= 3 and all(b == HEARTBEAT_FRAMES[style] for b in turn.heartbeats)
    assert "Lo-fi" in turn.text


async def test_heartbeat_none_sends_only_events(api, clip):
    sid = await session_with_clip(api, clip)
    await api.faults({"heartbeat": "none", "turn_delay": 0.1}, sid)
    turn = await api.turn(sid, "add lo-fi music")
    assert turn.heartbeats == [] and len(turn.events) == 3


async def test_silent_turn_has_no_text_but_edits(api, clip):
    sid = await session_with_clip(api, clip)
    await api.faults({"silent": True}, sid)
    turn = await api.turn(sid, 'title "Quiet" for 1s')
    assert turn.texts == [] and turn.parts("functionCall") and turn.parts("functionResponse")
    assert any(t["tt"] == 7 for t in (await api.draft(sid))["t"])


async def test_partial_fault_streams_deltas(api, clip):
    sid = await session_with_clip(api, clip)
    await api.faults({"partial": True}, sid)
    turn = await api.turn(sid, "add cinematic music please")
    assert len(turn.partials) >= 2 and "".join(turn.partials) == turn.texts[0]


@pytest.mark.parametrize("form", ["json", "fstring"])
async def test_stream_error_frame_ends_turn_without_change(api, clip, form):
    sid = await session_with_clip(api, clip)
    await api.faults({"stream_error": 'model said "no"', "stream_error_form": form}, sid)
    before = await api.draft(sid)
    turn = await api.turn(sid, "add lo-fi music")
    assert turn.texts == [] and len(turn.parts("functionCall")) == 1 and turn.parts("functionResponse") == []
    last = turn.blocks[-1]
    assert last.startswith("data: ") and '"error"' in last and "no" in last
    if form == "fstring":
        assert turn.errors == ['{"error": "model said "no""}']  # invalid JSON, as old ADK sent it
    else:
        assert turn.errors == ['model said "no"']
    assert await api.draft(sid) == before and (await api.credits())["available"] == 100


async def test_cut_stream_drops_connection_but_edit_happens(api, clip):
    sid = await session_with_clip(api, clip)
    await api.faults({"cut_stream": True}, sid)
    body = {"app_name": "nemo_agent", "user_id": "me", "session_id": sid, "new_message": {"parts": [{"text": "add lo-fi music"}]}}
    received = b""
    with pytest.raises(aiohttp.ClientPayloadError):
        async with api.http.post(api.url + "/run_sse", json=body, headers=api.headers()) as resp:
            async for chunk in resp.content.iter_any():
                received += chunk
    assert b"functionCall" in received and b"functionResponse" not in received
    assert any(t["tt"] == 1 for t in (await api.draft(sid))["t"])  # recovery by polling state finds it


async def test_temporary_issue_text_at_the_end(api, clip):
    sid = await session_with_clip(api, clip)
    await api.faults({"temporary_issue": True}, sid)
    turn = await api.turn(sid, "add lo-fi music")
    assert turn.texts[-1] == "I encountered a temporary issue" and "Lo-fi" in turn.texts[0]


async def test_expired_token_is_1001_once_then_a_new_token_works(api, clip):
    sid = await session_with_clip(api, clip)
    await api.faults({"expired_token": True})
    status, body = await api.state(sid)
    assert body["code"] == 1001
    status, body = await api.state(sid)
    assert body["code"] == 1001  # the token really is dead now
    old = api.token
    data = await api.login()  # same client id -> same account, fresh token
    assert data["token"] != old
    status, body = await api.state(sid)
    assert body["code"] == 0


async def test_lost_session(api, clip):
    sid = await session_with_clip(api, clip)
    await api.faults({"lost_session": True}, sid)
    status, raw, _ = await api.turn_raw(sid, "add lo-fi music")
    assert status == 404 and "Session not found" in raw
    status, body = await api.state(sid)
    assert body["code"] == 1002
    fresh = await api.new_session()
    status, body = await api.state(fresh)
    assert body["code"] == 0


async def test_no_credits(api, clip):
    sid = await session_with_clip(api, clip)
    await api.faults({"no_credits": True})
    assert (await api.credits())["available"] == 0
    status, raw, _ = await api.turn_raw(sid, "add lo-fi music")
    assert '"code": 2001' in raw and "register?bind=" in raw
    status, body = await api.submit(sid)
    assert body["success"] is False and body["code"] == 2001
    async with api.http.delete(api.url + "/_test/faults") as resp:
        assert resp.status == 200
    assert (await api.credits())["available"] == 100


async def test_rate_limit_answers_429_with_retry_after(api, clip):
    sid = await session_with_clip(api, clip)
    await api.faults({"rate_limit": {"times": 2, "retry_after": 7}})
    for _ in range(2):
        async with api.http.get(api.url + "/api/credits/balance/simple", headers=api.headers()) as resp:
            assert resp.status == 429 and resp.headers["Retry-After"] == "7"
    assert (await api.credits())["available"] == 100


async def test_session_faults_stay_in_their_session(api, clip):
    sid = await session_with_clip(api, clip)
    other = await session_with_clip(api, clip)
    await api.faults({"silent": True}, sid)
    assert (await api.turn(sid, "add lo-fi music")).texts == []
    assert (await api.turn(other, "add lo-fi music")).texts != []
    async with api.http.delete(api.url + "/_test/faults", params={"session_id": sid}) as resp:
        assert resp.status == 200
    assert (await api.turn(sid, "add cinematic music")).texts != []


async def test_request_log_counts_posts(api, clip):
    sid = await session_with_clip(api, clip)
    async with api.http.delete(api.url + "/_test/requests"):
        pass
    await api.turn(sid, "add lo-fi music")
    await api.turn(sid, "music at 20%")
    async with api.http.get(api.url + "/_test/requests") as resp:
        log = (await resp.json())["requests"]
    posts = [r for r in log if r["method"] == "POST" and r["path"] == "/run_sse"]
    assert len(posts) == 2 and all(r["session_id"] == sid for r in posts)


async def test_unknown_fault_is_refused(api):
    async with api.http.post(api.url + "/_test/faults", json={"faults": {"explode": True}}) as resp:
        body = await resp.json()
        assert resp.status == 400 and "explode" in body["error"] and "silent" in body["known"]


async def test_fault_endpoints_are_off_outside_test_mode(tmp_path, http):
    async with LocalBackend(BackendConfig(data_dir=tmp_path / "d")) as b:
        async with http.post(b.url + "/_test/faults", json={"faults": {"silent": True}}) as resp:
            assert resp.status in (404, 405)
        async with http.get(b.url + "/_test/requests") as resp:
            assert resp.status == 404
