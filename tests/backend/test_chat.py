"""/run_sse: request validation, ADK event stream, the agent's edits (EN and ZH), credits."""

from __future__ import annotations

import pytest

from backend.config import BackendConfig
from backend.server import LocalBackend
from tests.backend.conftest import Api, session_with_clip

pytest.importorskip("engine.styles")


async def test_music_turn_streams_call_response_text_and_changes_draft(api, clip):
    sid = await session_with_clip(api, clip)
    turn = await api.turn(sid, "add lo-fi music")
    kinds = [next(iter(e["content"]["parts"][0])) for e in turn.events]
    assert kinds == ["functionCall", "functionResponse", "text"]
    call, response = turn.parts("functionCall")[0], turn.parts("functionResponse")[0]
    assert call["name"] == "generate_music" and call["args"]["style"] == "lofi" and call["id"] == response["id"]
    first = turn.events[0]
    assert first["author"] == "nemo_agent" and first["invocationId"].startswith("e-") and len(first["id"]) == 8
    assert first["actions"]["stateDelta"] == {} and isinstance(first["timestamp"], float)
    assert turn.events[1]["content"]["role"] == "user" and turn.events[2]["content"]["role"] == "model"
    assert "Lo-fi" in turn.text
    assert all(not line.startswith(("event:", "id:")) for block in turn.blocks for line in block.split("\n")
               if not line.startswith(":"))
    draft = await api.draft(sid)
    music = [t for t in draft["t"] if t["tt"] == 1][0]["sg"][0]
    assert music["m"]["style"] == "lofi" and music["m"]["auto"] is False and music["d"] == draft["d"]
    assert (await api.credits())["available"] == 99


async def test_camel_case_body_is_accepted(api, clip):
    sid = await session_with_clip(api, clip)
    turn = await api.turn(sid, "add background music that matches the mood of my video", camel=True)
    assert "matches the mood" in turn.text
    music = [t for t in (await api.draft(sid))["t"] if t["tt"] == 1][0]["sg"][0]["m"]
    assert music["auto"] is True and "style" not in music


async def test_unknown_key_in_new_message_is_422(api, clip):
    sid = await session_with_clip(api, clip)
    status, raw, _ = await api.turn_raw(sid, "hi", new_message={"parts": [{"text": "x"}], "mood": "sad"})
    assert status == 422 and "extra_forbidden" in raw
    status, raw, _ = await api.turn_raw(sid, "hi", new_message={"parts": [{"text": "x", "bogus": 1}]})
    assert status == 422
    status, raw, _ = await api.turn_raw(sid, "hi", new_message=None)
    assert status == 422


async def test_unknown_session_is_404(api):
    status, raw, _ = await api.turn_raw("1234567890123456789", "add music")
    assert status == 404 and "Session not found" in raw


async def test_volume_title_trim_and_remove(api, clip):
    sid = await session_with_clip(api, clip)
    await api.turn(sid, "add cinematic music")
    turn = await api.turn(sid, "music at 20%")
    assert "20%" in turn.text and turn.parts("functionCall")[0]["name"] == "edit_multitrack"
    assert (await api.credits())["available"] == 99  # a volume change is free
    turn = await api.turn(sid, 'title "Urban Dreams" for 2s')
    assert "Urban Dreams" in turn.text
    turn = await api.turn(sid, "cut the first 1 second")
    assert "Trimmed" in turn.text
    draft = await api.draft(sid)
    tracks = {t["tt"]: t["sg"] for t in draft["t"]}
    assert tracks[1][0]["m"]["volume"] == 0.2 and tracks[1][0]["m"]["style"] == "cinematic"
    assert tracks[7] == [{"s": 0, "d": 2000, "m": {"text": "Urban Dreams"}}]
    assert tracks[0][0]["m"]["in"] == 1000 and abs(draft["d"] - 2000) < 100
    turn = await api.turn(sid, "remove the music")
    assert "Removed" in turn.text
    assert 1 not in {t["tt"] for t in (await api.draft(sid))["t"]}


async def test_chinese_requests_get_chinese_replies(api, clip):
    sid = await session_with_clip(api, clip, language="zh-CN")
    turn = await api.turn(sid, "换成欢快的音乐")
    assert "背景音乐" in turn.text
    turn = await api.turn(sid, "音乐音量 20%")
    assert "20%" in turn.text and "音量" in turn.text
    turn = await api.turn(sid, "标题“城市之梦” 持续2秒")
    assert "城市之梦" in turn.text
    turn = await api.turn(sid, "剪到2秒")
    assert "剪辑" in turn.text
    draft = await api.draft(sid)
    tracks = {t["tt"]: t["sg"] for t in draft["t"]}
    assert tracks[1][0]["m"]["volume"] == 0.2 and tracks[7][0]["m"]["text"] == "城市之梦" and draft["d"] == 2000
    turn = await api.turn(sid, "去掉音乐")
    assert "去掉" in turn.text and 1 not in {t["tt"] for t in (await api.draft(sid))["t"]}


async def test_unsupported_request_gets_a_friendly_reply_and_changes_nothing(api, clip):
    sid = await session_with_clip(api, clip)
    before = await api.draft(sid)
    turn = await api.turn(sid, "what's the weather in Paris?")
    assert turn.parts("functionCall") == [] and "I can" in turn.text
    assert await api.draft(sid) == before


async def test_edit_before_any_video_asks_for_one(api):
    sid = await api.new_session()
    turn = await api.turn(sid, "add lo-fi music")
    assert "upload a video" in turn.text and (await api.credits())["available"] == 100


async def test_streaming_true_sends_partial_deltas_then_the_aggregate(api, clip):
    sid = await session_with_clip(api, clip)
    turn = await api.turn(sid, "add upbeat music and title \"Hello World Again\" for 1s", streaming=True)
    assert len(turn.partials) > 1 and "".join(turn.partials) == turn.texts[-1]


async def test_running_out_of_credits_is_2001_with_registration_link(tmp_path, http, clip):
    config = BackendConfig(data_dir=tmp_path / "data", start_credits=1)
    async with LocalBackend(config) as b:
        api = Api(http, b.url)
        user = await api.login()
        sid = await session_with_clip(api, clip)
        await api.turn(sid, "add lo-fi music")
        status, raw, headers = await api.turn_raw(sid, "make it cinematic")
        assert headers["Content-Type"].startswith("application/json")
        assert '"code": 2001' in raw and f"register?bind={user['user_id']}" in raw
        # free edits still work
        turn = await api.turn(sid, "music at 30%")
        assert "30%" in turn.text


async def test_concurrent_turns_in_one_session_both_land(api, clip):
    import asyncio

    sid = await session_with_clip(api, clip)
    await api.faults({"turn_delay": 0.2}, sid)
    await asyncio.gather(api.turn(sid, "add lo-fi music"), api.turn(sid, 'title "Both" for 1s'))
    kinds = {t["tt"] for t in (await api.draft(sid))["t"]}
    assert {1, 7} <= kinds
