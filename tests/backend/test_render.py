"""Export through the render proxy: real engine renders, credits frozen and spent, errors."""

from __future__ import annotations

import av
import pytest

from tests.backend.conftest import SKILL_HEADERS, session_with_clip

pytest.importorskip("engine.pipeline")


def probe_output(path) -> tuple[float, int, int, bool]:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        return c.duration / 1e6, v.codec_context.width, v.codec_context.height, bool(c.streams.audio)


async def test_export_renders_the_draft(api, clip, tmp_path):
    sid = await session_with_clip(api, clip)
    await api.turn(sid, "add lo-fi music")
    await api.turn(sid, 'title "Urban Dreams" for 1s')
    await api.turn(sid, "trim to 2s")
    status, body = await api.submit(sid, "render_1")
    assert status == 200 and body == {"success": True, "data": {
        "id": "render_1", "status": "pending", "progress": 5, "createdAt": body["data"]["createdAt"]}}
    seen = set()
    while True:
        data = (await api.poll("render_1"))["data"]
        seen.add(data["status"])
        if data["status"] in ("completed", "failed"):
            break
    assert data["status"] == "completed", data
    assert data["progress"] == 100 and data["completedAt"] >= data["createdAt"] and data["style"] == "lofi"
    music = [t for t in (await api.draft(sid))["t"] if t["tt"] == 1][0]["sg"][0]["m"]
    assert music["key"] == data["key"] and music["mode"] in ("major", "minor")
    out = tmp_path / "out.mp4"
    async with api.http.get(data["outputUrl"]) as resp:  # like a CDN link: no token needed
        assert resp.status == 200
        out.write_bytes(await resp.read())
    duration, width, height, has_audio = probe_output(out)
    assert abs(duration - 2.0) < 0.25 and (width, height) == (320, 240) and has_audio
    # the authenticated download gives the same file
    async with api.http.get(f"{api.url}/api/render/proxy/render_1/download", headers=api.headers()) as resp:
        assert resp.status == 200 and await resp.read() == out.read_bytes()
    status, state = await api.state(sid)
    assert state["data"]["state"]["generated_media"][0]["url"] == data["outputUrl"]
    credits = await api.credits()
    assert credits == {"available": 98, "frozen": 0, "total": 98}  # 1 music change + 1 export


async def test_credits_are_frozen_while_rendering_then_given_back_on_cancel(api, clip):
    sid = await session_with_clip(api, clip)
    await api.faults({"render_delay": 30}, sid)
    status, body = await api.submit(sid, "render_slow")
    data = await api.wait_render("render_slow", until=("processing",))
    assert data["progress"] == 0
    assert await api.credits() == {"available": 99, "frozen": 1, "total": 100}
    status, body = await api.call("POST", "/api/render/proxy/lambda/render_slow/cancel")
    assert body["success"] is True and body["data"]["status"] == "failed" and body["data"]["cancelled"] is True
    data = (await api.poll("render_slow"))["data"]
    assert data["status"] == "failed" and "cancelled" in data["error"]
    assert await api.credits() == {"available": 100, "frozen": 0, "total": 100}
    async with api.http.get(f"{api.url}/api/render/proxy/render_slow/download", headers=api.headers()) as resp:
        assert resp.status == 409


async def test_failed_render_reports_error_and_refunds(api, clip):
    sid = await session_with_clip(api, clip)
    await api.faults({"render_fail": "GPU on fire"}, sid)
    await api.submit(sid, "render_bad")
    data = await api.wait_render("render_bad")
    assert data["status"] == "failed" and data["error"] == "GPU on fire" and "outputUrl" not in data
    assert (await api.credits())["available"] == 100


async def test_toplevel_poll_shape(api, clip):
    sid = await session_with_clip(api, clip)
    await api.faults({"render_poll_shape": "toplevel"}, sid)
    await api.submit(sid, "render_top")
    while True:
        body = await api.poll("render_top")
        assert "success" not in body
        if body["status"] in ("completed", "failed"):
            break
    assert body["status"] == "completed" and body["output"]["url"].endswith("/render_top.mp4")


async def test_export_errors(api, clip, backend, http):
    sid = await session_with_clip(api, clip)
    headers = {"Authorization": f"Bearer {api.token}"}  # no attribution headers
    status, body = await api.submit(sid, headers=headers)
    assert status == 402 and body["success"] is False
    status, body = await api.submit(sid, "render_dup")
    assert body["success"] is True
    status, body = await api.submit(sid, "render_dup")
    assert status == 409
    status, body = await api.submit("1111111111111111111", draft={"t": []})
    assert body["success"] is False and body["code"] == 1002
    empty = await api.new_session()
    status, body = await api.submit(empty)
    assert status == 400 and "upload a video" in body["error"]
    status, body = await api.call("GET", "/api/render/proxy/lambda/render_nope")
    assert status == 404
    await api.wait_render("render_dup")


async def test_two_clips_are_joined(api, clip, clip2, tmp_path):
    sid = await api.new_session()
    await api.upload(sid, clip, clip2)
    await api.turn(sid, "remove the music")
    await api.submit(sid, "render_two", output={"format": "mp4", "quality": "high"})
    data = await api.wait_render("render_two")
    assert data["status"] == "completed", data
    out = tmp_path / "two.mp4"
    async with api.http.get(data["outputUrl"]) as resp:
        out.write_bytes(await resp.read())
    duration, width, height, _ = probe_output(out)
    assert abs(duration - 4.5) < 0.3 and (width, height) == (320, 240)
