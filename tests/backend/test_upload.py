"""Uploads: multipart `files` (several at once), by URL, type and size checks, streaming."""

from __future__ import annotations

import subprocess
import tracemalloc
import wave
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from backend.config import BackendConfig
from backend.server import LocalBackend
from tests.backend.conftest import Api


def make_png(path: Path) -> Path:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "color=c=red:size=64x48", "-frames:v", "1", str(path)], check=True)
    return path


def make_wav(path: Path, seconds: float, rate: int = 48000) -> Path:
    """A silent stereo WAV written in pieces (never whole in memory)."""
    frames = int(seconds * rate)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        block = b"\0" * 4 * rate
        for _ in range(frames // rate):
            w.writeframes(block)
    return path


async def test_multipart_several_files_with_probe_metadata(api, clip, clip2, tmp_path):
    sid = await api.new_session()
    png = make_png(tmp_path / "cover.png")
    status, body = await api.upload(sid, clip, clip2, png)
    assert status == 200 and body["code"] == 0, body
    files = {f["filename"]: f for f in body["data"]["files"]}
    assert body["data"]["session_state_applied"] is True
    video = files["clip.mp4"]
    assert video["file_type"] == "video" and video["width"] == 320 and video["height"] == 240
    assert abs(video["duration"] - 3.0) < 0.2 and round(video["fps"]) == 25 and len(video["hash"]) == 64
    assert files["second.mov"]["file_type"] == "video"
    assert files["cover.png"]["file_type"] == "image" and files["cover.png"]["width"] == 64
    # the cdn_url serves the same bytes
    async with api.http.get(video["cdn_url"]) as resp:
        assert resp.status == 200 and await resp.read() == clip.read_bytes()
    # both videos are on the draft's video track, one after the other
    draft = await api.draft(sid)
    segments = draft["t"][0]["sg"]
    assert draft["t"][0]["tt"] == 0 and len(segments) == 2
    assert segments[1]["s"] == segments[0]["d"] and abs(draft["d"] - 4500) < 200
    assert draft["m"]["width"] == 320 and draft["m"]["height"] == 240


async def test_unsupported_types_are_4001(api, tmp_path):
    sid = await api.new_session()
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    status, body = await api.upload(sid, text)
    assert body["code"] == 4001
    fake = tmp_path / "fake.mp4"  # the name says video; the bytes do not
    fake.write_bytes(b"this is not a video at all" * 100)
    status, body = await api.upload(sid, fake)
    assert body["code"] == 4001 and "fake.mp4" in body["message"]
    assert (await api.draft(sid))["t"] == []


async def test_refused_file_drops_the_whole_request(api, clip, tmp_path):
    sid = await api.new_session()
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    status, body = await api.upload(sid, clip, text)
    assert body["code"] == 4001
    status, body = await api.state(sid)
    assert body["data"]["state"]["video_infos"] == []


async def test_over_the_cap_is_4002(tmp_path, http, clip):
    config = BackendConfig(data_dir=tmp_path / "data", upload_max_bytes=20_000, test_mode=True)
    async with LocalBackend(config) as b:
        api = Api(http, b.url)
        await api.login()
        sid = await api.new_session()
        status, body = await api.upload(sid, clip)
        assert body["code"] == 4002 and "too large" in body["message"]
        assert not any((tmp_path / "data" / "uploads").rglob("clip.mp4"))  # nothing half-written stays


async def test_unknown_session_upload_is_1002(api, clip):
    status, body = await api.upload("1111111111111111111", clip)
    assert body["code"] == 1002


@pytest.fixture
async def file_server(clip, tmp_path):
    """A tiny web server on loopback that serves files, for uploads by URL."""
    text = tmp_path / "page.mp4"
    text.write_text("<html>not a video</html>")
    def serve(path: Path):
        async def handler(request: web.Request) -> web.FileResponse:
            return web.FileResponse(path)
        return handler

    app = web.Application()
    app.router.add_get("/v/clip.mp4", serve(clip))
    app.router.add_get("/v/noext", serve(clip))
    app.router.add_get("/v/page.mp4", serve(text))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


async def test_upload_by_url(api, file_server):
    sid = await api.new_session()
    status, body = await api.call("POST", f"/api/upload-video/nemo_agent/me/{sid}",
                                  json={"urls": [f"{file_server}/v/clip.mp4", f"{file_server}/v/noext"],
                                        "source_type": "url"})
    assert body["code"] == 0, body
    files = body["data"]["files"]
    assert [f["file_type"] for f in files] == ["video", "video"]
    assert files[1]["filename"].endswith(".mp4")  # named by what it is
    assert len((await api.draft(sid))["t"][0]["sg"]) == 2


async def test_upload_by_url_errors(api, file_server):
    sid = await api.new_session()
    path = f"/api/upload-video/nemo_agent/me/{sid}"
    status, body = await api.call("POST", path, json={"urls": [f"{file_server}/v/page.mp4"]})
    assert body["code"] == 4001
    status, body = await api.call("POST", path, json={"urls": [f"{file_server}/v/missing.mp4"]})
    assert body["code"] == 4003
    status, body = await api.call("POST", path, json={"urls": ["file:///etc/passwd"]})
    assert body["code"] == 4003


async def test_upload_by_url_over_cap_is_4002(tmp_path, http, file_server):
    config = BackendConfig(data_dir=tmp_path / "data", upload_max_bytes=20_000)
    async with LocalBackend(config) as b:
        api = Api(http, b.url)
        await api.login()
        sid = await api.new_session()
        status, body = await api.call("POST", f"/api/upload-video/nemo_agent/me/{sid}",
                                      json={"urls": [f"{file_server}/v/clip.mp4"]})
        assert body["code"] == 4002


async def test_large_upload_streams_without_holding_the_file(api, tmp_path):
    """A 48 MB file goes through with Python allocations far below its size (both ends stream)."""
    big = make_wav(tmp_path / "long.wav", seconds=250)  # 48 MB of PCM
    size = big.stat().st_size
    sid = await api.new_session()
    tracemalloc.start()
    try:
        with open(big, "rb") as fh:
            form = aiohttp.FormData()
            form.add_field("files", fh, filename="long.wav")
            status, body = await api.call("POST", f"/api/upload-video/nemo_agent/me/{sid}", data=form)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert body["code"] == 0, body
    assert body["data"]["files"][0]["file_type"] == "audio" and abs(body["data"]["files"][0]["duration"] - 250) < 1
    assert body["data"]["files"][0]["size"] == size
    assert peak < size / 5, f"peak Python memory {peak} for a {size}-byte upload"
