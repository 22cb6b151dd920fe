"""The command handlers and small helpers, driven with small fakes (no network)."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

import discord
import pytest

from adapters.discord import commands
from adapters.discord.prefetch import is_video, safe_name
from adapters.discord.reply import Delivery, DiscordReplyPort, render_progress, split_text
from adapters.discord.rest import normalise_api_url
from core.events import MediaItem
from core.ports import Progress

BOT_ID = 42


class Response:
    def __init__(self, log: list) -> None:
        self.log = log

    async def defer(self, *, thinking: bool = False) -> None:
        self.log.append(("defer", thinking))

    async def send_message(self, text: str, *, ephemeral: bool = False) -> None:
        self.log.append(("refuse", text, ephemeral))


@dataclass
class Interaction:
    log: list
    locale: discord.Locale = discord.Locale.american_english
    guild_id: int | None = 9
    channel_id: int = 100
    user: SimpleNamespace = field(default_factory=lambda: SimpleNamespace(id=7, display_name="Ana"))

    def __post_init__(self) -> None:
        self.response = Response(self.log)


class Port:
    def __init__(self, log: list) -> None:
        self.log = log

    async def send_text(self, text: str) -> None:
        self.log.append(("text", text))


class Bridge:
    def __init__(self, log: list, fail: bool = False) -> None:
        self.log = log
        self.fail = fail
        self.events = []

    def port_for_interaction(self, interaction):
        return Port(self.log)

    def port_for_message(self, message):
        return Port(self.log)

    def media_item(self, attachment) -> MediaItem:
        self.log.append(("prefetch", attachment.filename))

        async def fetch(dest):
            raise AssertionError("not fetched in these tests")

        return MediaItem(kind="video", fetch=fetch, file_name=attachment.filename, mime_type=attachment.content_type)

    async def dispatch(self, event) -> None:
        self.log.append(("dispatch", event.command))
        self.events.append(event)
        if self.fail:
            raise RuntimeError("core broke")


def att(filename="clip.mp4", content_type="video/mp4"):
    return SimpleNamespace(filename=filename, content_type=content_type, size=10, url="u", width=1, height=1)


async def test_music_defers_before_the_download_and_the_core():
    log: list = []
    bridge = Bridge(log)
    await commands.music_command(bridge, Interaction(log), att(), "  calm piano ")
    assert log == [("defer", True), ("prefetch", "clip.mp4"), ("dispatch", "music")]
    event = bridge.events[0]
    assert event.text == "calm piano" and event.chat_id == "100" and event.user_id == "7"
    assert event.is_group and event.language == "en-US" and event.user_name == "Ana"


@pytest.mark.parametrize("attachment,expected", [
    (att("a.png", "image/png"), "isn't a video I can use"),
    (discord.Object(id=5), "Send me a video clip first"),
    (None, "Send me a video clip first"),
])
async def test_music_refuses_bad_input_privately_without_deferring(attachment, expected):
    log: list = []
    bridge = Bridge(log)
    await commands.music_command(bridge, Interaction(log), attachment, None)
    assert len(log) == 1 and log[0][0] == "refuse" and expected in log[0][1] and log[0][2] is True
    assert bridge.events == []


async def test_refusals_speak_chinese_to_chinese_clients():
    log: list = []
    await commands.music_command(Bridge(log), Interaction(log, locale=discord.Locale.chinese), att("a.mp3", "audio/mpeg"), None)
    assert log[0][1].startswith("这个文件不是我能处理的视频")


async def test_simple_commands_defer_then_pass_the_name():
    log: list = []
    bridge = Bridge(log)
    await commands.simple_command(bridge, Interaction(log, guild_id=None), "export")
    assert log == [("defer", True), ("dispatch", "export")]
    assert not bridge.events[0].is_group


async def test_add_music_takes_only_the_videos_of_the_message():
    log: list = []
    bridge = Bridge(log)
    message = SimpleNamespace(attachments=[att("cat.png", "image/png"), att("a.mov", "video/quicktime"), att("b.webm", None)])
    await commands.add_music_menu(bridge, Interaction(log), message)
    assert [i.file_name for i in bridge.events[0].media] == ["a.mov", "b.webm"]
    assert log[0] == ("defer", True) and bridge.events[0].command == "music"


async def test_a_core_failure_becomes_one_friendly_line():
    log: list = []
    await commands.simple_command(Bridge(log, fail=True), Interaction(log), "status")
    assert log[-1] == ("text", "Something went wrong on my side. Nothing was lost — please try again.")


def _message(content, *, mentions=(), bot=False, guild=True):
    author = SimpleNamespace(id=7, bot=bot, display_name="Ana")
    return SimpleNamespace(content=content, author=author, mentions=list(mentions), attachments=[], id=1,
                           guild=object() if guild else None, channel=SimpleNamespace(id=100))


async def test_mentions_are_handled_and_other_users_stay_in_the_text():
    log: list = []
    bridge = Bridge(log)
    me = SimpleNamespace(id=BOT_ID)
    await commands.on_bot_message(bridge, _message(f"<@!{BOT_ID}> make it like <@55>'s", mentions=[me]), BOT_ID)
    assert bridge.events[0].text == "make it like <@55>'s" and bridge.events[0].message_id == "1"


@pytest.mark.parametrize("message", [
    _message("hi all"),  # a server message not for us
    _message(f"<@{BOT_ID}> hi", mentions=[SimpleNamespace(id=BOT_ID)], bot=True),  # another bot
])
async def test_messages_not_for_the_bot_are_ignored(message):
    bridge = Bridge([])
    await commands.on_bot_message(bridge, message, BOT_ID)
    assert bridge.events == []


@pytest.mark.parametrize("name,ctype,video", [
    ("a.mp4", "video/mp4", True), ("a.bin", "video/webm", True), ("a.mkv", None, True),
    ("a.mov", "application/octet-stream", True), ("a.mp4", "image/gif", False), ("a.txt", None, False),
])
def test_is_video_checks_type_before_name(name, ctype, video):
    assert is_video(att(name, ctype)) is video


def test_safe_name_keeps_files_inside_the_folder():
    assert safe_name("../../etc/passwd") == "passwd"
    assert safe_name("my clip (1).mp4") == "my_clip_1_.mp4"


def test_progress_text_and_splitting():
    assert render_progress(Progress("🎬 Rendering", 42, "adding the title")) == \
        "🎬 Rendering · 42%\n▰▰▰▰▱▱▱▱▱▱\n_adding the title_"
    assert render_progress(Progress("📥 Getting your clip")) == "📥 Getting your clip…"
    parts = split_text("line\n" * 900)
    assert all(len(x) <= 2000 for x in parts) and "".join(parts).count("line") == 900


def test_limits_follow_the_token_clock_and_delivery_round_trips():
    now = [1000.0]
    delivery = Delivery(channel_id=1, filesize_limit=25 << 20, channel_filesize_limit=10 << 20,
                        application_id=2, token="t", expires_at=1900.0, user_id=7)
    port = DiscordReplyPort(None, delivery, token_margin=60, clock=lambda: now[0])  # type: ignore[arg-type]
    assert port.limits().max_upload_bytes == 25 << 20
    now[0] = 1850.0  # inside the safety margin: an upload now might not finish in time
    assert port.limits().max_upload_bytes == 10 << 20
    assert Delivery.from_dict(dict(port.delivery_target(), unknown="ignored")) == delivery


@pytest.mark.parametrize("given,expected", [
    ("http://127.0.0.1:9/", "http://127.0.0.1:9/api/v10"),
    ("http://h/api", "http://h/api/v10"),
    ("https://discord.com/api/v10", "https://discord.com/api/v10"),
])
def test_api_url_is_normalised(given, expected):
    assert normalise_api_url(given) == expected
