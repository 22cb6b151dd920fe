"""The whole product through the core: an in-memory chat surface, the real Nemo client and the
real local backend over HTTP on loopback, real SQLite, real clips and real renders."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from backend.config import BackendConfig
from backend.server import LocalBackend
from core.app import Core, CoreConfig
from core.nemo.client import NemoClient
from core.store import Store
from tests.clips import make_clip
from tests.core.memory_surface import MemorySurface
from tests.media_checks import ffprobe, stream

WAIT = 120.0  # an upper bound so a broken build fails instead of hanging; not a speed check


class Rig:
    """A backend, a store and a core wired as `aiwm run` wires them, with test-sized timings."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.surface = MemorySurface(root)
        self.backend = LocalBackend(BackendConfig(data_dir=root / "backend", test_mode=True, heartbeat_interval=0.2))
        self.store: Store | None = None
        self.client: NemoClient | None = None
        self.core: Core | None = None

    async def start_core(self, item_timeout: float = 600.0) -> None:
        self.store = await Store(self.root / "bot.sqlite3").open()
        self.client = NemoClient(self.backend.url, credentials=self.store, render_poll_interval=0.1)
        self.core = Core(CoreConfig(data_dir=self.root / "bot", item_timeout=item_timeout), self.client, self.store,
                         {"test": self.surface})
        await self.core.start()

    async def stop_core(self) -> None:
        await self.core.stop()
        await self.client.close()
        await self.store.close()

    async def stop(self) -> None:
        await self.stop_core()
        await self.backend.stop()

    async def say(self, chat: str, text: str = "", clips=(), **kw) -> None:
        await self.core.handle(self.surface.event(chat, text, list(clips), **kw))

    async def settle(self) -> None:
        assert await self.core.drain(WAIT), "the core did not finish its work"

    async def faults(self, faults: dict, session_id: str | None = None) -> None:
        body = {"faults": faults} | ({"session_id": session_id} if session_id else {})
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{self.backend.url}/_test/faults", json=body) as resp:
                assert resp.status == 200, await resp.text()

    async def requests(self) -> list[dict]:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{self.backend.url}/_test/requests") as resp:
                data = await resp.json()
        return data.get("requests", data) if isinstance(data, dict) else data


@pytest.fixture
async def rig(tmp_path: Path):
    rig = Rig(tmp_path)
    await rig.backend.start()
    await rig.start_core()
    yield rig
    await rig.stop()


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return make_clip(tmp_path / "holiday.mp4", duration=2.0, audio="tone", cuts=[1.0])


async def _wait_until(condition, what: str) -> None:
    for _ in range(int(WAIT / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


async def test_a_clip_with_no_words_comes_back_with_music(rig: Rig, clip: Path) -> None:
    await rig.say("dm1", clips=[clip])
    await rig.settle()

    chat = rig.surface.chats["dm1"]
    assert len(chat.videos) == 1, chat.texts
    video = chat.videos[0]
    info = ffprobe(video.path)
    assert stream(info, "audio")["codec_name"] == "aac"
    assert (video.width, video.height) == (320, 240)
    assert abs(video.duration - 2.0) < 0.1
    assert chat.progress, "long work shows progress"
    assert chat.finished >= 1
    assert not any("error" in text.lower() for text in chat.texts), chat.texts


async def test_caption_is_the_instruction_and_status_shows_the_timeline(rig: Rig, clip: Path) -> None:
    await rig.say("dm1", "lo-fi please", [clip])
    await rig.settle()
    await rig.say("dm1", "status")
    await rig.settle()

    status = rig.surface.chats["dm1"].texts[-1]
    assert "1. " in status and "lo-fi" in status.lower(), status


async def test_follow_ups_change_the_music_and_export_sends_it_again(rig: Rig, clip: Path) -> None:
    await rig.say("dm1", clips=[clip])
    await rig.settle()
    await rig.say("dm1", "music at 20%")
    await rig.settle()
    await rig.say("dm1", "/status", command="status")
    await rig.settle()
    assert "20%" in rig.surface.chats["dm1"].texts[-1]

    await rig.say("dm1", "export")
    await rig.settle()
    assert len(rig.surface.chats["dm1"].videos) == 2


async def test_a_silent_turn_says_what_changed(rig: Rig, clip: Path) -> None:
    await rig.say("dm1", "/upload", [clip], command="upload")
    await rig.settle()
    await rig.faults({"silent": True})
    await rig.say("dm1", "add some cinematic music")
    await rig.settle()

    reply = rig.surface.chats["dm1"].texts[-1]
    assert "music" in reply.lower() or "bgm" in reply.lower(), reply


async def test_credits_and_help_answer(rig: Rig) -> None:
    await rig.say("dm1", "credits")
    await rig.say("dm1", "/help", command="help")
    await rig.settle()
    texts = rig.surface.chats["dm1"].texts
    assert any("100" in text for text in texts), texts
    assert any("video" in text.lower() for text in texts)


async def test_a_pdf_is_refused_before_anything_is_uploaded(rig: Rig, tmp_path: Path) -> None:
    pdf = tmp_path / "invoice.pdf"
    pdf.write_bytes(b"%PDF-1.4\n" + b"0" * 2000)
    await rig.say("dm1", clips=[pdf])
    await rig.settle()

    chat = rig.surface.chats["dm1"]
    assert chat.videos == []
    assert any("video" in text.lower() for text in chat.texts), chat.texts
    assert not any("upload" in str(r.get("path", "")) for r in await rig.requests())


async def test_a_broken_video_gets_a_clear_message(rig: Rig, tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"junk" * 500)
    await rig.say("dm1", clips=[broken])
    await rig.settle()
    texts = rig.surface.chats["dm1"].texts
    assert texts and "video" in texts[-1].lower(), texts


async def test_out_of_credits_shows_the_registration_link(rig: Rig, clip: Path) -> None:
    await rig.faults({"no_credits": True})
    await rig.say("dm1", clips=[clip])
    await rig.settle()
    texts = rig.surface.chats["dm1"].texts
    assert any("http" in text and "credit" in text.lower() for text in texts), texts


async def test_a_lost_session_is_rebuilt_without_bothering_the_user(rig: Rig, clip: Path) -> None:
    await rig.say("dm1", clips=[clip])
    await rig.settle()
    first = (await rig.store.chat_session("test:dm1")).session_id
    await rig.faults({"lost_session": True}, session_id=first)

    await rig.say("dm1", "export")
    await rig.settle()

    chat = rig.surface.chats["dm1"]
    assert len(chat.videos) == 2, chat.texts
    assert (await rig.store.chat_session("test:dm1")).session_id != first


async def test_an_expired_token_and_one_rate_limit_are_handled_quietly(rig: Rig) -> None:
    await rig.say("dm1", "credits")
    await rig.settle()
    await rig.faults({"expired_token": True, "rate_limit": {"times": 1, "retry_after": 1}})
    await rig.say("dm1", "credits")
    await rig.settle()
    texts = rig.surface.chats["dm1"].texts
    assert len(texts) == 2 and texts[0] == texts[1], texts


async def test_cancel_stops_a_running_render(rig: Rig, clip: Path) -> None:
    await rig.faults({"render_delay": 60})
    await rig.say("dm1", clips=[clip])
    await _wait_until(lambda: any("render" in p.stage.lower() for p in rig.surface.chats.get("dm1", _Empty).progress),
                      "the render stage")
    await rig.say("dm1", "/cancel", command="cancel")
    await rig.settle()

    chat = rig.surface.chats["dm1"]
    assert chat.videos == []
    assert any("cancel" in text.lower() for text in chat.texts), chat.texts
    jobs = await rig.store.open_jobs()
    assert jobs == []


async def test_one_chat_never_waits_for_another(rig: Rig, clip: Path) -> None:
    await rig.faults({"render_delay": 60})
    await rig.say("slow", clips=[clip])
    await _wait_until(lambda: any("render" in p.stage.lower() for p in rig.surface.chats.get("slow", _Empty).progress),
                      "the slow chat to be rendering")
    await rig.say("quick", "credits")
    await _wait_until(lambda: bool(rig.surface.chats.get("quick", _Empty).texts), "the quick chat's answer")

    assert rig.surface.chats["slow"].videos == []  # still rendering while the other chat was served
    await rig.say("slow", "/cancel", command="cancel")
    await rig.settle()


async def test_group_chatter_is_ignored(rig: Rig) -> None:
    await rig.say("group1", "lol nice", is_group=True, addressed=False)
    await rig.settle()
    assert rig.surface.chats.get("group1", _Empty).texts == []


async def test_stuck_work_ends_with_a_message(tmp_path: Path, clip: Path) -> None:
    rig = Rig(tmp_path)
    await rig.backend.start()
    await rig.start_core(item_timeout=1.5)
    try:
        await rig.faults({"turn_delay": 30})
        await rig.say("dm1", "make it cinematic")
        await rig.settle()
        assert "too long" in rig.surface.chats["dm1"].texts[-1]
    finally:
        await rig.stop()


async def test_a_restart_during_a_render_still_delivers_exactly_once(tmp_path: Path, clip: Path) -> None:
    rig = Rig(tmp_path)
    await rig.backend.start()
    await rig.start_core()
    try:
        await rig.faults({"render_delay": 1.5})
        await rig.say("dm1", clips=[clip])

        async def render_submitted() -> bool:
            return any(job.render_id for job in await rig.store.open_jobs())

        for _ in range(int(WAIT / 0.05)):
            if await render_submitted():
                break
            await asyncio.sleep(0.05)
        await rig.stop_core()  # the process stops mid-render
        assert rig.surface.chats["dm1"].videos == []

        await rig.start_core()  # ...and starts again: the open render is resumed
        await rig.settle()
        await rig.stop_core()
        await rig.start_core()  # a second restart delivers nothing twice
        await rig.settle()

        assert len(rig.surface.chats["dm1"].videos) == 1
        assert await rig.store.open_jobs() == []
    finally:
        await rig.stop()


class _Empty:
    texts: list = []
    videos: list = []
    progress: list = []


@pytest.mark.parametrize("heartbeat", ["comment", "empty", "word", "event", "json"])
async def test_every_heartbeat_form_is_just_a_sign_of_life(rig: Rig, clip: Path, heartbeat: str) -> None:
    await rig.say("dm1", "/upload", [clip], command="upload")
    await rig.settle()
    await rig.faults({"heartbeat": heartbeat, "heartbeat_interval": 0.05, "turn_delay": 0.3})
    await rig.say("dm1", "add upbeat music")
    await rig.settle()
    reply = rig.surface.chats["dm1"].texts[-1]
    assert "music" in reply.lower() and "heartbeat" not in reply.lower() and "ping" not in reply.lower(), reply


async def test_partial_text_is_shown_once(rig: Rig, clip: Path) -> None:
    await rig.say("dm1", "/upload", [clip], command="upload")
    await rig.settle()
    await rig.faults({"partial": True})
    await rig.say("dm1", "add lo-fi music")
    await rig.settle()
    reply = rig.surface.chats["dm1"].texts[-1]
    lines = [line for line in reply.splitlines() if line.strip()]
    assert len(lines) == len(set(lines)), reply  # the deltas and the aggregate are not both shown


async def test_an_in_stream_error_becomes_a_friendly_message(rig: Rig, clip: Path) -> None:
    await rig.say("dm1", "/upload", [clip], command="upload")
    await rig.settle()
    await rig.faults({"stream_error": "model overloaded"})
    await rig.say("dm1", "add lo-fi music")
    await rig.settle()
    reply = rig.surface.chats["dm1"].texts[-1]
    assert "couldn't" in reply and "model overloaded" in reply, reply


async def test_a_cut_stream_still_reports_what_changed_and_is_not_resent(rig: Rig, clip: Path) -> None:
    await rig.say("dm1", "/upload", [clip], command="upload")
    await rig.settle()
    await rig.faults({"cut_stream": True})
    before = [r for r in await rig.requests() if r.get("path") == "/run_sse"]
    await rig.say("dm1", "add cinematic music")
    await rig.settle()
    after = [r for r in await rig.requests() if r.get("path") == "/run_sse"]

    assert len(after) - len(before) == 1  # one message, one POST, even though the stream broke
    reply = rig.surface.chats["dm1"].texts[-1]
    assert "music" in reply.lower() or "bgm" in reply.lower(), reply


async def test_the_temporary_issue_tail_is_dropped_when_the_work_was_done(rig: Rig, clip: Path) -> None:
    await rig.say("dm1", "/upload", [clip], command="upload")
    await rig.settle()
    await rig.faults({"temporary_issue": True})
    await rig.say("dm1", "add lo-fi music")
    await rig.settle()
    assert "temporary issue" not in rig.surface.chats["dm1"].texts[-1].lower()


async def test_a_failed_render_says_so_and_the_chat_goes_on(rig: Rig, clip: Path) -> None:
    await rig.faults({"render_fail": "encoder crashed"})
    await rig.say("dm1", clips=[clip])
    await rig.settle()
    chat = rig.surface.chats["dm1"]
    assert chat.videos == []
    assert any("render" in text.lower() or "couldn't" in text.lower() for text in chat.texts), chat.texts

    await rig.faults({"render_fail": None})
    await rig.say("dm1", "export")
    await rig.settle()
    assert len(chat.videos) == 1
