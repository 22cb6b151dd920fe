"""The backend really dies: `aiwm backend` runs as a child process and is SIGKILLed mid-turn,
mid-render and mid-upload, then started again on the same port with the same data folder.

The bot is the real PTB application against the fake Bot API, the real core and the real Nemo
client (tests/faults/test_backend_faults.py `Product`). What the killed backend had been asked is
read from its --request-log file, what it kept from its SQLite file: nothing in its memory survives.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from core import timeline
from core.i18n import say
from tests.clips import make_clip
from tests.faults.backendproc import BackendProcess, wait_until
from tests.faults.test_backend_faults import STATUS, UNKNOWN, WAIT, WAITING, Product
from tests.telegram.fake_bot_api import FakeBotApi, message, private_chat, user, video_field
from tests.telegram.recording_handler import probe

SUBMIT = ("POST", "/api/render/proxy/lambda")
OTHER_CHAT = 77


@pytest.fixture
async def bot_api(tmp_path: Path):
    api = FakeBotApi(tmp_path / "fake")
    await api.start()
    yield api
    await api.stop()


@pytest.fixture
async def killed(tmp_path: Path, bot_api):
    backend = BackendProcess(tmp_path / "backend")
    await backend.start()
    product = Product(tmp_path, bot_api, backend)
    await product.start()
    yield product
    await product.stop()
    await backend.stop()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("killed") / "tiny.mp4", duration=1.0, size=(160, 120), cuts=[0.5])


def _chat_texts(product: Product, chat: int) -> list[str]:
    return [c.params["text"] for c in product.fake.of("sendMessage") if int(c.params["chat_id"]) == chat]


def _chat_videos(product: Product, chat: int) -> list:
    return [c for c in product.fake.of("sendVideo") if int(c.params["chat_id"]) == chat]


async def _draft_now(product: Product) -> dict | None:
    """The draft as the (restarted) backend has it, asked with the bot's own credentials."""
    from core.conversation import _draft_of

    session_id = next(r["session_id"] for r in product.backend.requests() if r["session_id"])
    return _draft_of(await product.client.get_state(session_id))


# --- 1. SIGKILL mid-turn --------------------------------------------------------------------------

async def test_killed_mid_turn_the_turn_is_never_resent(killed: Product, tiny: Path) -> None:
    backend: BackendProcess = killed.backend
    await backend.faults({"turn_delay": 30})
    killed.send_clip(tiny, caption="calm piano")
    await wait_until(lambda: backend.turns() == 1, "the turn")
    await asyncio.sleep(0.5)  # the turn is open and working
    await backend.kill()
    await killed.wait_for(lambda: killed.said(UNKNOWN), "the 'may or may not' line")
    assert not killed.fake.of("sendVideo")
    assert not killed.said(WAITING), "one plain line is all the user needs here"

    await backend.start()  # same port, same data; the fault switches died with it
    killed.send_text("/status")
    await killed.wait_for(lambda: killed.said(STATUS), "the status answer")
    status = next(t for t in _chat_texts(killed, 42) if STATUS in t)
    draft = await _draft_now(killed)
    assert status == say("status_header", "en") + "\n" + "\n".join(timeline.summary(draft, "en"))
    assert timeline.has_content(draft), "the clip uploaded before the kill is in the restarted backend's draft"
    assert backend.turns() == 1, "the cut turn was sent again after the restart"

    killed.send_text("make it lo-fi")
    await wait_until(lambda: backend.turns() == 2, "the follow-up turn")
    assert await killed.core.drain(WAIT)
    replies = _chat_texts(killed, 42)
    assert replies[-1] != say("stream_cut", "en") and UNKNOWN not in replies[-1]
    assert "lo-fi" in str(await _draft_now(killed)).lower(), "the follow-up turn changed the music"
    assert killed.said(UNKNOWN) == 1
    assert backend.turns() == 2


# --- 2. SIGKILL mid-render ------------------------------------------------------------------------

@pytest.mark.parametrize("fault", ["render_delay", "engine_stall"])
async def test_killed_mid_render_the_video_comes_exactly_once(killed: Product, tiny: Path, fault: str) -> None:
    """Killed while the render waits to start, or while the engine works (its folder half-made)."""
    backend: BackendProcess = killed.backend
    await backend.faults({fault: 30})
    killed.send_clip(tiny)
    await wait_until(lambda: backend.count(*SUBMIT) == 1, "the render")
    await wait_until(lambda: _render_polls(backend) >= 2, "the render polls")  # answered "processing"
    if fault == "engine_stall":
        await wait_until(lambda: _work_folders(backend), "the engine's work folder")
    await backend.kill()
    await asyncio.sleep(1.0)  # polls fail meanwhile; the bot keeps polling, backing off
    restarted = time.time()
    await backend.start()
    await killed.videos(1)
    assert await killed.core.drain(WAIT)
    # The restarted backend marked the cut render failed (credits back); the bot exported once more.
    assert backend.count(*SUBMIT) == 2
    assert backend.turns() == 1
    assert len(killed.fake.of("sendVideo")) == 1, "the video was delivered twice"
    assert not any("fail" in t.lower() or "restarted" in t.lower() for t in killed.texts())
    renders = [r for r in backend.requests() if r["path"].startswith("/api/render/proxy/lambda/")]
    first = renders[0]["path"].rsplit("/", 1)[1]
    assert any(r["path"].endswith(first) and r["time"] > restarted for r in renders), \
        "the bot stopped polling the first render during the outage"
    record = backend.record("renders", first)
    assert record["status"] == "failed" and record["error"], "the cut render is not left 'processing'"
    assert not _work_folders(backend), "the killed render's work folder was left behind"


def _work_folders(backend: BackendProcess) -> list[Path]:
    return list((backend.data_dir / "renders").glob(".work-*"))


def _render_polls(backend: BackendProcess) -> int:
    return sum(1 for r in backend.requests()
               if r["method"] == "GET" and r["path"].startswith("/api/render/proxy/lambda/"))


# --- 3. SIGKILL during the clip upload ------------------------------------------------------------

def _send_clip_from(product: Product, chat: int, clip: Path) -> None:
    product.fake.inject(message(private_chat(chat), user(chat), video=video_field(product.fake.add_file(clip),
                                                                                  duration=1)))


async def _kill_during_upload(product: Product, clip: Path, fault: dict, stored: bool) -> str:
    """Chat 42 gets a backend session, then sends `clip`; the backend is SIGKILLed while the
    upload's `fault` holds it (after the clip is stored, or before), and started again."""
    backend: BackendProcess = product.backend
    product.send_text("hello")  # the chat gets its backend session first, so the fault can name it
    await wait_until(lambda: backend.turns() == 1, "the first turn")
    assert await product.core.drain(WAIT)
    session_id = next(r["session_id"] for r in backend.requests() if r["path"] == "/run_sse")
    await backend.faults(fault, session_id=session_id)
    product.send_clip(clip)
    if stored:
        await wait_until(lambda: (backend.record("sessions", session_id) or {}).get("uploads"), "the stored upload")
    else:
        await wait_until(lambda: any(p.is_file() for p in (backend.data_dir / "uploads" / session_id).rglob("*")),
                         "the received clip")
    await backend.kill()
    await asyncio.sleep(0.5)
    await backend.start()
    _send_clip_from(product, OTHER_CHAT, clip)  # another chat, once the backend is back
    return session_id


async def test_killed_after_the_upload_was_stored_the_clip_is_processed_once(killed: Product, tiny: Path) -> None:
    backend: BackendProcess = killed.backend
    session_id = await _kill_during_upload(killed, tiny, {"response_delay": 30}, stored=True)
    await wait_until(lambda: len(_chat_videos(killed, 42)) == 1, "the first chat's video")
    await wait_until(lambda: len(_chat_videos(killed, OTHER_CHAT)) == 1, "the other chat's video")
    assert await killed.core.drain(WAIT)
    for chat in (42, OTHER_CHAT):
        assert probe(_chat_videos(killed, chat)[0].files["video"][2]) is not None
    # The answer was lost, not the clip: the bot looked instead of uploading it a second time.
    assert backend.count("POST", f"/api/upload-video/nemo_agent/me/{session_id}") == 1
    assert len(backend.record("sessions", session_id)["uploads"]) == 1
    assert not any(say("upload_lost", "en") == t or "isn't answering" in t for t in _chat_texts(killed, 42))
    assert len(killed.fake.of("sendVideo")) == 2


async def test_killed_before_the_upload_was_stored_the_user_is_asked_to_send_it_again(
        killed: Product, tiny: Path) -> None:
    backend: BackendProcess = killed.backend
    session_id = await _kill_during_upload(killed, tiny, {"upload_stall": 30}, stored=False)
    await wait_until(lambda: say("upload_lost", "en") in _chat_texts(killed, 42), "the 'send it again' line")
    await wait_until(lambda: len(_chat_videos(killed, OTHER_CHAT)) == 1, "the other chat's video")
    assert await killed.core.drain(WAIT)
    assert not _chat_videos(killed, 42)
    assert backend.record("sessions", session_id)["uploads"] == []
    assert not any(p.is_file() for p in (backend.data_dir / "uploads" / session_id).rglob("*")), \
        "the restarted backend kept the half-received clip"
    assert backend.turns() == 2  # "hello" and the other chat's: no turn ran on a clip that never arrived
    # Sending it again works.
    killed.send_clip(tiny)
    await wait_until(lambda: len(_chat_videos(killed, 42)) == 1, "the re-sent clip's video")
    assert await killed.core.drain(WAIT)
    assert _chat_texts(killed, 42).count(say("upload_lost", "en")) == 1
