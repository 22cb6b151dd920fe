"""The real client against the real local backend over loopback: every endpoint, error and fault."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

pytest.importorskip("backend.server")

from backend.config import BackendConfig  # noqa: E402
from backend.faults import HEARTBEAT_STYLES  # noqa: E402
from backend.server import LocalBackend  # noqa: E402
from core.nemo import errors  # noqa: E402
from core.nemo.auth import MemoryCredentials  # noqa: E402
from core.nemo.client import NemoClient, RenderResult  # noqa: E402
from core.nemo.events import (  # noqa: E402
    Heartbeat, StreamError, Text, TextDelta, ToolCall, ToolResult, TurnEnded,
)
from tests.clips import make_clip  # noqa: E402

MUSIC = "add lo-fi background music"


def _engine_renders() -> bool:
    try:
        import engine.pipeline  # noqa: F401
    except ImportError:
        return False
    return True


# Renders run through engine/ (another helper's work); without it only the failure paths run.
needs_engine = pytest.mark.skipif(not _engine_renders(), reason="engine.pipeline is not importable yet")


@pytest.fixture
async def backend(tmp_path):
    server = LocalBackend(BackendConfig(data_dir=tmp_path / "backend", test_mode=True, heartbeat_interval=0.05))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def client(backend):
    async with NemoClient(backend.url, credentials=MemoryCredentials(), render_poll_interval=0.05,
                          web_url="https://web.example") as c:
        yield c


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("clips") / "clip.mp4", duration=2.0)


async def faults(backend, faults: dict, session_id: str | None = None) -> None:
    body = {"faults": faults, **({"session_id": session_id} if session_id else {})}
    async with aiohttp.ClientSession() as http:
        async with http.post(backend.url + "/_test/faults", json=body) as resp:
            assert resp.status == 200, await resp.text()


async def request_log(backend) -> list[dict]:
    async with aiohttp.ClientSession() as http:
        async with http.get(backend.url + "/_test/requests") as resp:
            return (await resp.json())["requests"]


async def count(backend, method: str, path: str) -> int:
    return sum(1 for r in await request_log(backend) if r["method"] == method and r["path"] == path)


async def turn(client, sid: str, text: str = MUSIC, **kw) -> list:
    return [ev async for ev in client.run_turn(sid, text, **kw)]


async def session_with_clip(client, clip) -> str:
    sid = await client.create_session("en")
    files = await client.upload_files(sid, [clip])
    assert files[0]["filename"] == "clip.mp4" and files[0]["cdn_url"]
    return sid


def tracks(state: dict) -> dict[int, list]:
    return {t["tt"]: t["sg"] for t in state["state"]["draft"]["t"]}


# --- the whole path ------------------------------------------------------------------------------


async def test_full_flow_token_session_upload_turn_state_credits(backend, client, clip):
    before = await client.credits()
    assert before.available == 100 and before.frozen == 0
    sid = await session_with_clip(client, clip)
    assert tracks(await client.get_state(sid)).get(0)
    events = await turn(client, sid)
    assert any(isinstance(e, ToolCall) for e in events) and any(isinstance(e, ToolResult) for e in events)
    end = events[-1]
    assert isinstance(end, TurnEnded) and end.reason == "done" and end.text and end.error is None
    assert tracks(await client.get_state(sid)).get(1), "the music track is in the draft"
    assert (await client.credits()).available < before.available
    assert await count(backend, "POST", "/run_sse") == 1
    assert await count(backend, "POST", "/api/auth/anonymous-token") == 1


@needs_engine
async def test_render_and_download(backend, client, clip, tmp_path):
    sid = await session_with_clip(client, clip)
    await turn(client, sid)
    state = await client.get_state(sid)
    progress: list = []
    submitted: list = []
    result = await client.render(sid, state["state"]["draft"], on_progress=progress.append,
                                 on_submitted=submitted.append)
    assert result.render_id == submitted[0] and result.output_url
    assert progress[-1] == 1.0 and progress == sorted(progress)
    out = await client.download(result, tmp_path / "out.mp4")
    import av
    with av.open(str(out)) as media:
        assert media.streams.video and media.streams.audio
    # the fallback endpoint serves the same file
    via_api = await client.download(RenderResult(result.render_id, None), tmp_path / "api.mp4")
    assert via_api.read_bytes() == out.read_bytes()


async def test_upload_by_url(backend, client, clip):
    sid = await session_with_clip(client, clip)
    state = await client.get_state(sid)
    url = state["state"]["video_infos"][0]["cdn_url"]
    files = await client.upload_url(sid, url)
    assert files and files[0]["file_type"] == "video"


async def test_fixed_token_and_client_id_reuse(backend, clip):
    creds = MemoryCredentials()
    async with NemoClient(backend.url, credentials=creds) as first:
        await first.credits()
    token = creds.values["nemo_token"]
    async with NemoClient(backend.url, token=token) as fixed:
        assert (await fixed.credits()).available == 100
    assert await count(backend, "POST", "/api/auth/anonymous-token") == 1


# --- turn faults ---------------------------------------------------------------------------------


@pytest.mark.parametrize("style", [s for s in HEARTBEAT_STYLES if s != "none"])
async def test_every_heartbeat_style(backend, client, clip, style):
    sid = await session_with_clip(client, clip)
    await faults(backend, {"heartbeat": style, "heartbeat_interval": 0.05, "turn_delay": 0.3}, sid)
    events = await turn(client, sid)
    assert sum(isinstance(e, Heartbeat) for e in events) >= 2
    assert events[-1].reason == "done" and events[-1].text


async def test_silent_turn_has_tools_but_no_text(backend, client, clip):
    sid = await session_with_clip(client, clip)
    await faults(backend, {"silent": True}, sid)
    events = await turn(client, sid)
    assert any(isinstance(e, ToolCall) for e in events)
    assert not any(isinstance(e, (Text, TextDelta)) for e in events)
    assert events[-1] == TurnEnded("done", "", None)
    assert tracks(await client.get_state(sid)).get(1)


async def test_partial_streaming_deltas_then_aggregate(backend, client, clip):
    sid = await session_with_clip(client, clip)
    await faults(backend, {"partial": True}, sid)
    events = await turn(client, sid)
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    texts = [e.text for e in events if isinstance(e, Text)]
    assert len(deltas) >= 2 and texts and "".join(deltas) == texts[0]
    assert events[-1].text == texts[0]


@pytest.mark.parametrize("form,message", [("json", "Agent run failed: quota"), ("fstring", 'bad "draft" value')])
async def test_stream_error_frame(backend, client, clip, form, message):
    sid = await session_with_clip(client, clip)
    await faults(backend, {"stream_error": message, "stream_error_form": form}, sid)
    events = await turn(client, sid)
    assert StreamError(message) in events
    assert events[-1].reason == "done" and events[-1].error == message
    assert not tracks(await client.get_state(sid)).get(1), "a failed turn changes nothing"


async def test_cut_stream_is_one_post_and_never_resent(backend, client, clip):
    sid = await session_with_clip(client, clip)
    await faults(backend, {"cut_stream": True}, sid)
    events = await turn(client, sid)
    assert events[-1].reason == "cut"
    await asyncio.sleep(0.3)
    assert await count(backend, "POST", "/run_sse") == 1
    assert tracks(await client.get_state(sid)).get(1), "the tool ran; the silent-edit fallback can see it"


async def test_temporary_issue_text_arrives(backend, client, clip):
    sid = await session_with_clip(client, clip)
    await faults(backend, {"temporary_issue": True}, sid)
    events = await turn(client, sid)
    assert "I encountered a temporary issue" in events[-1].text


async def test_watchdog_on_a_slow_turn(backend, clip):
    async with NemoClient(backend.url, heartbeat_only_limit=0.4) as client:
        sid = await session_with_clip(client, clip)
        await faults(backend, {"turn_delay": 30, "heartbeat_interval": 0.05}, sid)
        events = await turn(client, sid)
    assert events[-1].reason == "watchdog"
    assert any(isinstance(e, Heartbeat) for e in events)
    assert await count(backend, "POST", "/run_sse") == 1


async def test_cancel_a_turn(backend, client, clip):
    sid = await session_with_clip(client, clip)
    await faults(backend, {"turn_delay": 30, "heartbeat_interval": 0.05}, sid)
    cancel = asyncio.Event()
    events = []
    async for ev in client.run_turn(sid, MUSIC, cancel=cancel):
        events.append(ev)
        if isinstance(ev, Heartbeat) and len(events) >= 3:
            cancel.set()
    assert events[-1].reason == "cancelled"
    assert await count(backend, "POST", "/run_sse") == 1


# --- auth, session, credit and rate faults --------------------------------------------------------


async def test_expired_token_is_renewed_once(backend, client):
    await client.credits()
    await faults(backend, {"expired_token": True})
    assert (await client.credits()).available == 100
    assert await count(backend, "POST", "/api/auth/anonymous-token") == 2
    assert await count(backend, "GET", "/api/credits/balance/simple") == 3


async def test_expired_token_on_a_turn_renews_and_the_turn_runs_once(backend, client, clip):
    sid = await session_with_clip(client, clip)
    await faults(backend, {"expired_token": True}, sid)
    events = await turn(client, sid)
    assert events[-1].reason == "done" and events[-1].text
    # the refused POST never ran (1001 before streaming); the second one ran the turn
    assert await count(backend, "POST", "/run_sse") == 2
    assert await count(backend, "POST", "/api/auth/anonymous-token") == 2


async def test_expired_token_with_4xx_business_status(tmp_path):
    config = BackendConfig(data_dir=tmp_path / "b", test_mode=True, business_error_status=401)
    async with LocalBackend(config) as backend:
        async with NemoClient(backend.url) as client:
            await client.credits()
            await faults(backend, {"expired_token": True})
            assert (await client.credits()).available == 100


async def test_fixed_token_that_expires_raises(backend):
    async with NemoClient(backend.url, credentials=MemoryCredentials()) as anon:
        await anon.credits()
        token = anon._token
    await faults(backend, {"expired_token": True})
    async with NemoClient(backend.url, token=token) as fixed:
        with pytest.raises(errors.TokenExpired):
            await fixed.credits()


async def test_lost_session_main_api_and_chat(backend, client, clip):
    sid = await session_with_clip(client, clip)
    await faults(backend, {"lost_session": True}, sid)
    with pytest.raises(errors.SessionNotFound) as caught:
        await client.get_state(sid)
    assert caught.value.code == 1002
    sid2 = await session_with_clip(client, clip)
    await faults(backend, {"lost_session": True}, sid2)
    with pytest.raises(errors.SessionNotFound) as caught:
        await turn(client, sid2)
    assert caught.value.code == 404


async def test_no_credits_on_turn_and_render(backend, client, clip):
    sid = await session_with_clip(client, clip)
    await faults(backend, {"no_credits": True}, sid)
    with pytest.raises(errors.NoCredits) as caught:
        await turn(client, sid)
    assert caught.value.register_url and "register?bind=anon_" in caught.value.register_url
    assert "nmv_" not in str(caught.value)
    draft = (await client.get_state(sid))["state"]["draft"]
    with pytest.raises(errors.NoCredits):
        await client.render(sid, draft)
    assert await count(backend, "POST", "/run_sse") == 1


async def test_rate_limit_once_is_retried(backend, client):
    await client.credits()
    await faults(backend, {"rate_limit": {"times": 1, "retry_after": 0}})
    assert (await client.credits()).available == 100
    assert await count(backend, "GET", "/api/credits/balance/simple") == 3


async def test_rate_limit_twice_raises(backend, client):
    await client.credits()
    await faults(backend, {"rate_limit": {"times": 2, "retry_after": 0}})
    with pytest.raises(errors.RateLimited):
        await client.credits()


async def test_rate_limit_with_long_retry_after_is_not_waited(backend, client):
    await client.credits()
    await faults(backend, {"rate_limit": {"times": 1, "retry_after": 3600}})
    with pytest.raises(errors.RateLimited) as caught:
        await client.credits()
    assert caught.value.retry_after == 3600


# --- upload errors -----------------------------------------------------------------------------


async def test_unsupported_file_4001(backend, client, tmp_path):
    sid = await client.create_session("en")
    note = tmp_path / "notes.txt"
    note.write_text("not a video")
    with pytest.raises(errors.UnsupportedFile) as caught:
        await client.upload_files(sid, [note])
    assert caught.value.code == 4001


async def test_file_too_large_4002(tmp_path, clip):
    config = BackendConfig(data_dir=tmp_path / "b", test_mode=True, upload_max_bytes=10_000)
    async with LocalBackend(config) as backend:
        async with NemoClient(backend.url) as client:
            sid = await client.create_session("en")
            with pytest.raises(errors.FileTooLarge) as caught:
                await client.upload_files(sid, [clip])
    assert caught.value.code == 4002


# --- render faults -----------------------------------------------------------------------------


async def test_render_fail_is_retried_once_with_a_new_id_then_raises(backend, client, clip):
    sid = await session_with_clip(client, clip)
    await faults(backend, {"render_fail": "encoder exploded"}, sid)
    draft = (await client.get_state(sid))["state"]["draft"]
    ids: list = []
    with pytest.raises(errors.RenderFailed) as caught:
        await client.render(sid, draft, on_submitted=ids.append)
    assert len(ids) == 2 and ids[0] != ids[1]
    assert "encoder exploded" in caught.value.user_message
    assert await count(backend, "POST", "/api/render/proxy/lambda") == 2


@needs_engine
async def test_render_toplevel_poll_shape(backend, client, clip, tmp_path):
    sid = await session_with_clip(client, clip)
    await faults(backend, {"render_poll_shape": "toplevel"}, sid)
    draft = (await client.get_state(sid))["state"]["draft"]
    result = await client.render(sid, draft)
    assert result.output_url and result.output_url.endswith(".mp4")
    assert (await client.download(result, tmp_path / "o.mp4")).stat().st_size > 1000


async def test_render_cancel_while_delayed(backend, client, clip):
    sid = await session_with_clip(client, clip)
    await faults(backend, {"render_delay": 30}, sid)
    draft = (await client.get_state(sid))["state"]["draft"]
    ids: list = []

    async def on_submitted(render_id):
        ids.append(render_id)
        await client.cancel_render(render_id)
    with pytest.raises(errors.RenderFailed):
        await client.render(sid, draft, on_submitted=on_submitted)
    assert len(ids) == 2
    assert await client.cancel_render("render_unknown") is False


async def test_export_without_attribution_headers_is_402(backend, clip):
    async with NemoClient(backend.url, skill_source="") as client:
        sid = await session_with_clip(client, clip)
        draft = (await client.get_state(sid))["state"]["draft"]
        with pytest.raises(errors.PaymentRequired):
            await client.render(sid, draft)


async def test_empty_draft_is_bad_request(backend, client):
    sid = await client.create_session("en")
    with pytest.raises(errors.BadRequest):
        await client.render(sid, {"t": [], "d": 0})


async def test_backend_stopped_is_unavailable(tmp_path):
    backend = LocalBackend(BackendConfig(data_dir=tmp_path / "b", test_mode=True))
    await backend.start()
    url = backend.url
    await backend.stop()
    async with NemoClient(url) as client:
        with pytest.raises(errors.BackendUnavailable):
            await client.credits()
