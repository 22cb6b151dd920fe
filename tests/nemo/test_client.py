"""The real client against a scripted loopback server: auth, retries, turns, uploads, renders."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import tracemalloc

import pytest
from aiohttp import web

from core.nemo import errors
from core.nemo.client import Credits, NemoClient, RenderResult
from core.nemo.events import Heartbeat, StreamError, Text, ToolCall, TurnEnded
from core.store import Store
from tests.nemo.conftest import envelope, safe_write, sse_frame, token_route

SID = "5529798706024415232"


def client_for(fake, **kw) -> NemoClient:
    kw.setdefault("render_poll_interval", 0.01)
    return NemoClient(fake.url, **kw)


async def collect(aiter):
    return [ev async for ev in aiter]


# --- auth and headers ------------------------------------------------------------------------


async def test_anonymous_token_persisted_in_sqlite_and_client_id_stable(fake, tmp_path):
    fake.on("POST", "/api/auth/anonymous-token", token_route(["nmv_usr_first"]))

    async def balance(request):
        assert request.headers["Authorization"] == "Bearer nmv_usr_first"
        return envelope({"available": 25000, "frozen": 40, "total": 25040})
    fake.on("GET", "/api/credits/balance/simple", balance)

    store = await Store(tmp_path / "bot.db").open()
    try:
        async with client_for(fake, credentials=store) as client:
            assert await client.credits() == Credits(25000, 40, 25040,
                                                     {"available": 25000, "frozen": 40, "total": 25040})
            first_id = await client.client_id()
        async with client_for(fake, credentials=store) as again:
            await again.credits()
            assert await again.client_id() == first_id
    finally:
        await store.close()
    # one token fetch only: the second client reused the stored token
    assert fake.count("POST", "/api/auth/anonymous-token") == 1
    token_call = next(h for m, p, h in fake.requests if p == "/api/auth/anonymous-token")
    assert token_call["X-Client-Id"] == first_id


async def test_attribution_headers_on_every_call_and_fixed_token(fake):
    fake.on("POST", "/api/tasks/me/with-session/nemo_agent",
            lambda r: _json_echo(r, {"task_id": "task_1", "session_id": SID, "user_id": "anon_1"}))
    fake.on("GET", f"/api/state/nemo_agent/me/{SID}/latest",
            lambda r: _ok(envelope({"session_id": SID, "state": {"draft": {"t": []}}})))
    async with client_for(fake, token="nmv_usr_fixed", platform="telegram") as client:
        assert await client.create_session("en") == SID
        state = await client.get_state(SID)
    assert state["state"]["draft"] == {"t": []}
    assert fake.count("POST", "/api/auth/anonymous-token") == 0
    for _, _, headers in fake.requests:
        assert headers["Authorization"] == "Bearer nmv_usr_fixed"
        assert headers["X-Skill-Source"] == "ai-with-music"
        assert headers["X-Skill-Version"]
        assert headers["X-Skill-Platform"] == "telegram"


async def _ok(resp):
    return resp


async def _json_echo(request, data):
    body = await request.json()
    assert body == {"task_name": "project", "language": "en"}
    return envelope(data)


async def test_1001_renews_token_once_then_succeeds(fake):
    fake.on("POST", "/api/auth/anonymous-token", token_route(["nmv_usr_old", "nmv_usr_new"]))

    async def balance(request):
        if request.headers["Authorization"] == "Bearer nmv_usr_old":
            return envelope(None, code=1001)
        return envelope({"available": 5, "frozen": 0})
    fake.on("GET", "/api/credits/balance/simple", balance)
    async with client_for(fake) as client:
        credits = await client.credits()
    assert credits.available == 5 and credits.total == 5
    assert fake.count("POST", "/api/auth/anonymous-token") == 2
    assert fake.count("GET", "/api/credits/balance/simple") == 2


async def test_1001_twice_gives_up_after_one_renewal(fake):
    fake.on("POST", "/api/auth/anonymous-token", token_route(["nmv_usr_a", "nmv_usr_b", "nmv_usr_c"]))
    fake.on("GET", "/api/credits/balance/simple", lambda r: _ok(envelope(None, code=1001, status=401)))
    async with client_for(fake) as client:
        with pytest.raises(errors.TokenExpired):
            await client.credits()
    assert fake.count("GET", "/api/credits/balance/simple") == 2
    assert fake.count("POST", "/api/auth/anonymous-token") == 2


async def test_fixed_token_is_not_renewed(fake):
    fake.on("GET", "/api/credits/balance/simple", lambda r: _ok(envelope(None, code=1001)))
    async with client_for(fake, token="nmv_usr_fixed") as client:
        with pytest.raises(errors.TokenExpired):
            await client.credits()
    assert fake.count("GET", "/api/credits/balance/simple") == 1


async def test_429_waits_retry_after_and_retries_once(fake):
    calls = []

    async def balance(request):
        calls.append(1)
        if len(calls) == 1:
            return web.json_response({"detail": "slow down"}, status=429, headers={"Retry-After": "0"})
        return envelope({"available": 1, "frozen": 0})
    fake.on("GET", "/api/credits/balance/simple", balance)
    async with client_for(fake, token="nmv_usr_x") as client:
        assert (await client.credits()).available == 1
    assert len(calls) == 2


async def test_429_twice_raises_rate_limited(fake):
    fake.on("GET", "/api/credits/balance/simple",
            lambda r: _ok(web.json_response({}, status=429, headers={"Retry-After": "0"})))
    async with client_for(fake, token="nmv_usr_x") as client:
        with pytest.raises(errors.RateLimited) as caught:
            await client.credits()
    assert fake.count("GET", "/api/credits/balance/simple") == 2
    assert caught.value.retry_after == 0


async def test_no_credits_error_carries_registration_link(fake):
    fake.on("POST", "/api/auth/anonymous-token", token_route(["nmv_usr_t"]))
    fake.on("POST", "/api/tasks/me/with-session/nemo_agent", lambda r: _ok(envelope(None, code=2001)))
    async with client_for(fake, web_url="https://web.example") as client:
        with pytest.raises(errors.NoCredits) as caught:
            await client.create_session("en")
    assert caught.value.register_url == "https://web.example/register?bind=anon_42"


async def test_unreachable_backend_is_backend_unavailable():
    async with NemoClient("http://127.0.0.1:9", token="nmv_usr_x") as client:
        with pytest.raises(errors.BackendUnavailable):
            await client.credits()


# --- turns -----------------------------------------------------------------------------------


def sse_handler(script, *, cut: bool = False, record: list | None = None):
    async def handler(request):
        if record is not None:
            record.append(await request.json())
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for item in script:
            if isinstance(item, (int, float)):
                await asyncio.sleep(item)
            elif not await safe_write(resp, item):
                return resp
        if cut:
            request.transport.abort()  # the connection breaks mid-stream, no chunked terminator
            return resp
        await resp.write_eof()
        return resp
    return handler


async def test_turn_decodes_stream_and_ends_done(fake):
    bodies = []
    fake.on("POST", "/run_sse", sse_handler([
        b": heartbeat\n\n",
        sse_frame({"content": {"parts": [{"functionCall": {"name": "generate_music", "args": {"style": "lofi"}}}]}}),
        sse_frame({"content": {"parts": [{"text": "Added lo-fi music."}]}}),
    ], record=bodies))
    async with client_for(fake, token="nmv_usr_x") as client:
        events = await collect(client.run_turn(SID, "add music"))
    assert events == [Heartbeat(), ToolCall("generate_music", {"style": "lofi"}), Text("Added lo-fi music."),
                      TurnEnded("done", "Added lo-fi music.", None)]
    assert bodies == [{"app_name": "nemo_agent", "user_id": "me", "session_id": SID,
                       "new_message": {"role": "user", "parts": [{"text": "add music"}]}}]
    _, _, headers = fake.requests[-1]
    assert headers["Accept"] == "text/event-stream"


async def test_cut_stream_ends_turn_with_one_post(fake):
    fake.on("POST", "/run_sse", sse_handler([
        sse_frame({"content": {"parts": [{"text": "Working on it."}]}}), 0.05,
        b'data: {"content": {"parts": [{"te',
    ], cut=True))
    async with client_for(fake, token="nmv_usr_x") as client:
        events = await collect(client.run_turn(SID, "make it epic"))
        await asyncio.sleep(0.1)  # anything re-sent would arrive now
    assert events[-1] == TurnEnded("cut", "Working on it.", None)
    assert fake.count("POST", "/run_sse") == 1


async def test_stream_error_frame_ends_turn(fake):
    fake.on("POST", "/run_sse", sse_handler([sse_frame({"error": "Model overloaded"}), 5]))
    async with client_for(fake, token="nmv_usr_x") as client:
        events = await collect(client.run_turn(SID, "hi"))
    assert events == [StreamError("Model overloaded"), TurnEnded("done", "", "Model overloaded")]


@pytest.mark.parametrize("status,body,cls", [
    (404, {"detail": "Session not found"}, errors.SessionNotFound),
    (200, {"code": 1002, "message": "session not found"}, errors.SessionNotFound),
    (422, {"detail": [{"loc": ["body", "new_message"], "msg": "bad"}]}, errors.ValidationFailed),
])
async def test_turn_refused_before_stream_raises(fake, status, body, cls):
    fake.on("POST", "/run_sse", lambda r: _ok(web.json_response(body, status=status)))
    async with client_for(fake, token="nmv_usr_x") as client:
        with pytest.raises(cls):
            await collect(client.run_turn(SID, "hi"))
    assert fake.count("POST", "/run_sse") == 1


async def test_turn_refused_with_1001_renews_and_posts_once_more(fake):
    fake.on("POST", "/api/auth/anonymous-token", token_route(["nmv_usr_old", "nmv_usr_new"]))

    async def run(request):
        if request.headers["Authorization"] == "Bearer nmv_usr_old":
            return envelope(None, code=1001)
        return await sse_handler([sse_frame({"content": {"parts": [{"text": "ok"}]}})])(request)
    fake.on("POST", "/run_sse", run)
    async with client_for(fake) as client:
        events = await collect(client.run_turn(SID, "hi"))
    assert events[-1] == TurnEnded("done", "ok", None)
    assert fake.count("POST", "/run_sse") == 2  # the first was refused, never run


async def test_watchdog_heartbeats_only(fake):
    fake.on("POST", "/run_sse", sse_handler([sse_frame({"content": {"parts": [{"text": "Starting."}]}})]
                                            + [b": heartbeat\n\n", 0.05] * 200))
    async with client_for(fake, token="nmv_usr_x", heartbeat_only_limit=0.3) as client:
        events = await collect(client.run_turn(SID, "generate"))
    assert events[-1] == TurnEnded("watchdog", "Starting.", None)
    assert any(isinstance(ev, Heartbeat) for ev in events)
    assert fake.count("POST", "/run_sse") == 1


async def test_watchdog_silence(fake):
    fake.on("POST", "/run_sse", sse_handler([10]))
    async with client_for(fake, token="nmv_usr_x", heartbeat_only_limit=0.2) as client:
        events = await collect(client.run_turn(SID, "generate"))
    assert events == [TurnEnded("watchdog", "", None)]


async def test_watchdog_total_limit_even_with_progress(fake):
    fake.on("POST", "/run_sse", sse_handler(
        [sse_frame({"content": {"parts": [{"functionCall": {"name": "step", "args": {}}}]}}), 0.05] * 200))
    async with client_for(fake, token="nmv_usr_x", turn_limit=0.4, heartbeat_only_limit=10) as client:
        events = await collect(client.run_turn(SID, "generate"))
    assert events[-1].reason == "watchdog"
    assert sum(isinstance(ev, ToolCall) for ev in events) >= 1


async def test_cancel_event_ends_turn_cancelled(fake):
    fake.on("POST", "/run_sse", sse_handler([b": hb\n\n", 10]))
    cancel = asyncio.Event()
    async with client_for(fake, token="nmv_usr_x") as client:
        events = []
        async for ev in client.run_turn(SID, "hi", cancel=cancel):
            events.append(ev)
            cancel.set()
    assert events == [Heartbeat(), TurnEnded("cancelled", "", None)]
    assert fake.count("POST", "/run_sse") == 1


# --- uploads ---------------------------------------------------------------------------------


def upload_handler(received: dict):
    async def handler(request):
        reader = await request.multipart()
        files = []
        while (part := await reader.next()) is not None:
            digest = hashlib.sha256()
            while chunk := await part.read_chunk(65536):
                digest.update(chunk)
            received.setdefault("fields", []).append(part.name)
            files.append({"filename": part.filename, "file_type": "video", "cdn_url": f"http://cdn/{part.filename}",
                          "sha256": digest.hexdigest()})
        received["chunked"] = request.headers.get("Transfer-Encoding") == "chunked"
        received["length"] = request.content_length
        return envelope({"files": files, "session_state_applied": True})
    return handler


async def test_upload_several_files_in_files_fields(fake, tmp_path):
    received: dict = {}
    fake.on("POST", f"/api/upload-video/nemo_agent/me/{SID}", upload_handler(received))
    a, b = tmp_path / "a.mp4", tmp_path / "b.png"
    a.write_bytes(b"video" * 1000)
    b.write_bytes(b"png")
    async with client_for(fake, token="nmv_usr_x") as client:
        files = await client.upload_files(SID, [a, b])
    assert received["fields"] == ["files", "files"]
    assert [f["filename"] for f in files] == ["a.mp4", "b.png"]
    assert files[0]["sha256"] == hashlib.sha256(a.read_bytes()).hexdigest()


async def test_upload_streams_from_disk_without_holding_the_file(fake, tmp_path):
    received: dict = {}
    fake.on("POST", f"/api/upload-video/nemo_agent/me/{SID}", upload_handler(received))
    big = tmp_path / "big.mp4"
    block = os.urandom(1024 * 1024)
    digest = hashlib.sha256()
    with big.open("wb") as out:
        for _ in range(32):
            out.write(block)
            digest.update(block)
    del block
    async with client_for(fake, token="nmv_usr_x") as client:
        tracemalloc.start()
        try:
            files = await client.upload_files(SID, [big])
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert files[0]["sha256"] == digest.hexdigest()
    assert peak < 8 * 1024 * 1024, f"peak Python memory {peak} bytes for a 32 MiB upload"


async def test_upload_errors_4001_4002(fake, tmp_path):
    clip = tmp_path / "x.txt"
    clip.write_text("hi")
    fake.on("POST", f"/api/upload-video/nemo_agent/me/{SID}", lambda r: _ok(envelope(None, code=4001)))
    async with client_for(fake, token="nmv_usr_x") as client:
        with pytest.raises(errors.UnsupportedFile):
            await client.upload_files(SID, [clip])
        fake.on("POST", f"/api/upload-video/nemo_agent/me/{SID}",
                lambda r: _ok(envelope(None, code=4002, status=413)))
        with pytest.raises(errors.FileTooLarge):
            await client.upload_files(SID, [clip])


async def test_upload_by_url(fake):
    async def handler(request):
        assert await request.json() == {"urls": ["https://example.com/v.mp4"], "source_type": "url"}
        return envelope({"files": [{"filename": "v.mp4", "cdn_url": "https://cdn/v.mp4"}]})
    fake.on("POST", f"/api/upload-video/nemo_agent/me/{SID}", handler)
    async with client_for(fake, token="nmv_usr_x") as client:
        assert (await client.upload_url(SID, "https://example.com/v.mp4"))[0]["filename"] == "v.mp4"


# --- renders and downloads ---------------------------------------------------------------------


def render_script(fake, polls_per_id: dict[int, list], submitted: list):
    """Submissions get scripts in order; each poll of an id answers the next scripted response."""
    scripts: dict[str, list] = {}

    async def submit(request):
        body = await request.json()
        assert body["sessionId"] == SID and body["draft"] == {"t": [{"tt": 0, "sg": [{"s": 0}]}]}
        submitted.append(body["id"])
        scripts[body["id"]] = list(polls_per_id[len(submitted) - 1])
        return web.json_response({"success": True, "data": {"id": body["id"], "status": "pending", "progress": 5}})

    async def poll(request):
        render_id = request.path.rsplit("/", 1)[-1]
        step = scripts[render_id].pop(0)
        if isinstance(step, int):
            return web.json_response({"detail": "upstream"}, status=step)
        return web.json_response(step)

    fake.on("POST", "/api/render/proxy/lambda", submit)
    return poll, scripts


async def test_render_polls_through_5xx_and_reads_both_shapes(fake):
    submitted: list = []
    poll, scripts = render_script(fake, {0: [
        503,
        {"success": True, "data": {"status": "processing", "progress": 40}},
        502,
        {"status": "processing", "progress": 70},  # top-level shape
        {"status": "completed", "output": {"url": "https://cdn.example/r.mp4"}},
    ]}, submitted)
    seen_progress: list = []
    seen_ids: list = []
    async with client_for(fake, token="nmv_usr_x") as client:
        _route_polls(fake, submitted, poll)
        result = await client.render(SID, {"t": [{"tt": 0, "sg": [{"s": 0}]}]},
                                     on_progress=seen_progress.append, on_submitted=seen_ids.append)
    assert result == RenderResult(submitted[0], "https://cdn.example/r.mp4")
    assert seen_ids == submitted and len(submitted) == 1
    assert seen_progress == [0.4, 0.7, 1.0]


def _route_polls(fake, submitted, poll):
    fake.on_prefix("GET", "/api/render/proxy/lambda/", poll)


async def test_render_data_shape_with_percent_and_output_url(fake):
    submitted: list = []
    poll, _ = render_script(fake, {0: [
        {"success": True, "data": {"status": "pending", "progress": 0}},
        {"success": True, "data": {"status": "processing", "progress": 1}},  # 1 %, not 100 %
        {"success": True, "data": {"status": "processing", "progress": 50}},
        {"success": True, "data": {"id": "r", "status": "completed", "progress": 100,
                                   "outputUrl": "https://static1.example/render-result/r.mp4"}},
    ]}, submitted)
    progress: list = []

    async def on_progress(fraction):
        progress.append(fraction)
    async with client_for(fake, token="nmv_usr_x") as client:
        _route_polls(fake, submitted, poll)
        result = await client.render(SID, {"t": [{"tt": 0, "sg": [{"s": 0}]}]}, on_progress=on_progress)
    assert result.output_url == "https://static1.example/render-result/r.mp4"
    assert progress == [0.0, 0.01, 0.5, 1.0]


async def test_render_progress_as_fraction(fake):
    submitted: list = []
    poll, _ = render_script(fake, {0: [
        {"success": True, "data": {"status": "processing", "progress": 0.25}},
        {"success": True, "data": {"status": "processing", "progress": 0.75}},
        {"success": True, "data": {"status": "completed", "progress": 1.0, "outputUrl": "https://cdn/x.mp4"}},
    ]}, submitted)
    progress: list = []
    async with client_for(fake, token="nmv_usr_x") as client:
        _route_polls(fake, submitted, poll)
        await client.render(SID, {"t": [{"tt": 0, "sg": [{"s": 0}]}]}, on_progress=progress.append)
    assert progress == [0.25, 0.75, 1.0]


async def test_failed_render_is_retried_once_with_a_new_id(fake):
    submitted: list = []
    poll, _ = render_script(fake, {
        0: [{"success": True, "data": {"status": "failed", "error": "invalid draft"}}],
        1: [{"success": True, "data": {"status": "completed", "outputUrl": "https://cdn/ok.mp4"}}],
    }, submitted)
    async with client_for(fake, token="nmv_usr_x") as client:
        _route_polls(fake, submitted, poll)
        result = await client.render(SID, {"t": [{"tt": 0, "sg": [{"s": 0}]}]})
    assert len(submitted) == 2 and submitted[0] != submitted[1]
    assert result == RenderResult(submitted[1], "https://cdn/ok.mp4")


async def test_two_failed_renders_raise_render_failed(fake):
    submitted: list = []
    poll, _ = render_script(fake, {
        0: [{"success": True, "data": {"status": "failed", "error": "invalid draft"}}],
        1: [{"status": "failed", "error": "still invalid"}],
    }, submitted)
    async with client_for(fake, token="nmv_usr_x") as client:
        _route_polls(fake, submitted, poll)
        with pytest.raises(errors.RenderFailed) as caught:
            await client.render(SID, {"t": [{"tt": 0, "sg": [{"s": 0}]}]})
    assert caught.value.user_message == "still invalid"
    assert len(submitted) == 2


async def test_render_402_is_final(fake):
    fake.on("POST", "/api/render/proxy/lambda", lambda r: _ok(web.json_response({"detail": "pay"}, status=402)))
    async with client_for(fake, token="nmv_usr_x") as client:
        with pytest.raises(errors.PaymentRequired):
            await client.render(SID, {"t": []})
    assert fake.count("POST", "/api/render/proxy/lambda") == 1


async def test_download_streams_with_progress_and_no_token_to_foreign_host(fake, tmp_path):
    payload = os.urandom(600_000)

    async def cdn(request):
        resp = web.StreamResponse(headers={"Content-Length": str(len(payload))})
        await resp.prepare(request)
        for i in range(0, len(payload), 100_000):
            await resp.write(payload[i:i + 100_000])
        return resp
    fake.on("GET", "/cdn/r.mp4", cdn)
    progress: list = []
    # A different host name for the same server: the client must not send the token there.
    foreign = fake.url.replace("127.0.0.1", "localhost") + "/cdn/r.mp4"
    async with client_for(fake, token="nmv_usr_secret") as client:
        path = await client.download(RenderResult("r1", foreign), tmp_path / "out.mp4", on_progress=progress.append)
    assert path.read_bytes() == payload
    assert progress[-1] == 1.0 and progress == sorted(progress)
    assert "Authorization" not in fake.requests[-1][2]
    assert not (tmp_path / "out.mp4.part").exists()


async def test_download_falls_back_to_backend_download_endpoint(fake, tmp_path):
    fake.on("GET", "/cdn/missing.mp4", lambda r: _ok(web.Response(status=404)))

    async def download(request):
        assert request.headers["Authorization"] == "Bearer nmv_usr_x"
        return web.Response(body=b"rendered-bytes")
    fake.on("GET", "/api/render/proxy/r9/download", download)
    async with client_for(fake, token="nmv_usr_x") as client:
        path = await client.download(RenderResult("r9", fake.url + "/cdn/missing.mp4"), tmp_path / "v.mp4")
    assert path.read_bytes() == b"rendered-bytes"


async def test_cancel_render(fake):
    fake.on("POST", "/api/render/proxy/lambda/r5/cancel", lambda r: _ok(web.json_response({"success": True})))
    async with client_for(fake, token="nmv_usr_x") as client:
        assert await client.cancel_render("r5") is True
        assert await client.cancel_render("nope") is False


async def test_no_token_in_logs_or_errors(fake, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    fake.on("POST", "/api/auth/anonymous-token", token_route(["nmv_usr_LEAK1", "nmv_usr_LEAK2"]))
    fake.on("GET", "/api/credits/balance/simple",
            lambda r: _ok(envelope(None, code=1001, status=401)))
    fake.on("POST", "/run_sse", lambda r: _ok(web.json_response(
        {"detail": "bad token nmv_usr_LEAK2"}, status=422)))
    async with client_for(fake) as client:
        with pytest.raises(errors.TokenExpired) as first:
            await client.credits()
        with pytest.raises(errors.ValidationFailed) as second:
            await collect(client.run_turn(SID, "hi"))
    text = caplog.text + str(first.value) + repr(first.value) + str(second.value) + (second.value.detail or "")
    assert "LEAK" not in text
