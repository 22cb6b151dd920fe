"""Real discord.py, real CommandTree, real gateway websocket and REST, against the fake on loopback."""

from __future__ import annotations

import av
import pytest

from tests.discord import payloads as p
from tests.discord.conftest import until
from tests.discord.fake_discord import APP_ID


def probe(data: bytes, tmp_path) -> tuple[bool, bool, float]:
    """(has video, has audio, duration s) of an uploaded file, read back with PyAV."""
    path = tmp_path / "uploaded.mp4"
    path.write_bytes(data)
    with av.open(str(path)) as container:
        has_video = any(s.type == "video" for s in container.streams)
        has_audio = any(s.type == "audio" for s in container.streams)
        frames = sum(1 for _ in container.decode(video=0))
        return has_video and frames > 0, has_audio, container.duration / 1e6


async def test_music_defers_shows_progress_and_uploads_playable_video(fake, start_surface, clip, tmp_path):
    surface, handler = await start_surface()
    att = p.attachment(fake.serve("clip.mp4", clip), size=clip.stat().st_size)
    payload = p.music(att, prompt="calm piano", size_limit=25 * 1024 * 1024)
    await fake.dispatch("INTERACTION_CREATE", payload)
    await handler.wait_done()

    event = handler.events[0]
    assert event.surface == "discord" and event.command == "music" and event.text == "calm piano"
    assert event.chat_id == str(p.CHANNEL_ID) and event.is_group and event.user_id == "777"
    # Deferred ("thinking") before the core saw anything.
    assert handler.callbacks_seen_at_handle == [1]
    assert fake.callbacks[0]["type"] == 5 and fake.callbacks[0]["token"] == payload["token"]
    # The real limit from the interaction reached the core.
    assert handler.limits_seen == [25 * 1024 * 1024]

    original = fake.original(payload["token"])
    shown = [e for e in original.edits if e]
    assert shown[0].startswith("📥 Getting your clip")
    assert any("Rendering the video · 100%" in e for e in shown)
    assert original.deleted  # the finished job clears its progress line

    uploads = fake.files()
    assert len(uploads) == 1
    message, name, data = uploads[0]
    assert message.via == "followup" and message.token == payload["token"]
    assert message.content.startswith("🎵 Here it is (calm piano)")
    assert name == "video-with-music.mp4"
    assert data == clip.read_bytes()
    plays, has_audio, duration = probe(data, tmp_path)
    assert plays and has_audio and duration == pytest.approx(1.5, abs=0.2)
