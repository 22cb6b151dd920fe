"""The bad-input corpus: case id -> what the user sends -> what the bot must answer.

Each case is one row of CASES: a builder that sends updates through the fake Bot API (as
Telegram would deliver them) and the expected outcome, named by its core.i18n key (so the test
compares against `say(...)`, never hard-coded English), a delivered video, or a deliberate
silence where answering would be spam.

Decisions the table documents:
- Edited messages are ignored: editing the caption of a clip that was already processed must
  not render it again (and re-running a turn would charge credits twice). The bot only asks
  Telegram for `message` updates; if edits arrive anyway (an old webhook's allowed_updates),
  the surface drops them.
- Channel posts, messages from other bots, service messages (new members, pins) and callback
  or inline queries the bot never asked for get no answer.
- Polls, contacts, locations and dice in a private chat get the help text (say what we do).
- Telegram's claims are trusted only where they save a download (a stated length over the
  limit); dimensions and a zero length come from the real file, so a wrong claim is harmless.
- Video stickers and video notes are real videos, but a sticker is not a clip anyone wants
  music on: stickers are refused, video notes are accepted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Awaitable, Callable

from core.i18n import kind_name
from tests.badinput.harness import Product, fresh_id, inject_update
from tests.badinput.media import BadMedia
from tests.telegram.fake_bot_api import (BOT_ID, BOT_USERNAME, StoredFile, document_field, group_chat, message,
                                         private_chat, user, video_field)


@dataclass
class Kit:
    """What a builder needs: the product, the media, and this case's own chat and user."""

    product: Product
    media: BadMedia
    chat_id: int = field(default_factory=fresh_id)
    group: bool = False
    language: str = "en"
    stored: list[StoredFile] = field(default_factory=list)

    @property
    def fake(self):
        return self.product.fake

    @property
    def user_id(self) -> int:
        return abs(self.chat_id)

    def chat(self) -> dict:
        return group_chat(self.chat_id) if self.group else private_chat(self.chat_id)

    def sender(self) -> dict:
        return user(self.user_id, language=self.language)

    def file(self, name: str, **kw) -> StoredFile:
        stored = self.product.fake.add_file(self.media.get(name), **kw)
        self.stored.append(stored)
        return stored

    def send(self, **content) -> dict:
        m = message(self.chat(), self.sender(), **content)
        self.fake.inject(m)
        return m

    def raw(self, kind: str, payload: dict) -> None:
        inject_update(self.fake, kind, payload)


@dataclass(frozen=True)
class Expect:
    key: str | None = None  # an i18n key the answer must match
    known: dict = field(default_factory=dict)  # placeholder values the answer must show
    contains: str | None = None  # plain words naming the problem (inside the key's {reason})
    videos: int = 0  # videos the chat must receive
    silent: bool = False  # no answer at all (the test may add a /help sentinel)
    downloaded: bool | None = None  # whether the file must (not) have been downloaded
    max_answers: int = 2  # answer lines (not progress) at most
    free_text: bool = False  # an answer from the editing agent (no fixed key)


def reply(key: str, *, contains: str | None = None, downloaded: bool | None = None, **known) -> Expect:
    return Expect(key=key, known=known, contains=contains, downloaded=downloaded)


def video(n: int = 1) -> Expect:
    return Expect(videos=n, downloaded=True)


SILENCE = Expect(silent=True)
AGENT = Expect(free_text=True)


@dataclass(frozen=True)
class Case:
    id: str
    build: Callable[[Kit], Awaitable[None] | None]
    expect: Expect
    group: bool = False
    language: str = "en"
    sentinel: bool = False  # after the case, /help from a human in the same chat must be the only answer


# --- builders --------------------------------------------------------------------------------

def as_document(name: str, file_name: str = "clip.mp4", mime: str = "video/mp4", size: int | None = None):
    def build(kit: Kit) -> None:
        stored = kit.file(name) if size is None else kit.file(name, size=size)
        kit.send(document=document_field(stored, mime, file_name))
    return build


def as_video(name: str, *, width: int = 64, height: int = 48, duration: int = 1, caption: str | None = None):
    def build(kit: Kit) -> None:
        stored = kit.file(name)
        kit.send(caption=caption, video=video_field(stored, width=width, height=height, duration=duration))
    return build


def text(value: str, entities: list[dict] | None = None):
    def build(kit: Kit) -> None:
        m = message(kit.chat(), kit.sender())
        m["text"] = value  # built by hand: the fake's entity helper can't encode lone surrogates
        if entities:
            m["entities"] = entities
        kit.fake.inject(m)
    return build


def content(**fields):
    """A message carrying a non-file attachment (poll, contact, location, dice)."""
    def build(kit: Kit) -> None:
        kit.send(**fields)
    return build


def sticker(name: str, *, animated: bool = False, video_sticker: bool = False):
    def build(kit: Kit) -> None:
        s = kit.file(name)
        kit.send(sticker={"file_id": s.file_id, "file_unique_id": s.unique_id, "type": "regular", "width": 512,
                          "height": 512, "is_animated": animated, "is_video": video_sticker, "file_size": s.size})
    return build


def voice(kit: Kit) -> None:
    s = kit.file("voice.ogg")
    kit.send(voice={"file_id": s.file_id, "file_unique_id": s.unique_id, "duration": 1, "mime_type": "audio/ogg",
                    "file_size": s.size})


def audio(kit: Kit) -> None:
    s = kit.file("song.mp3")
    kit.send(audio={"file_id": s.file_id, "file_unique_id": s.unique_id, "duration": 1, "mime_type": "audio/mpeg",
                    "file_name": "song.mp3", "file_size": s.size})


def photo(kit: Kit) -> None:
    s = kit.file("photo.jpg")
    kit.send(photo=[{"file_id": s.file_id, "file_unique_id": s.unique_id, "width": 90, "height": 90,
                     "file_size": s.size}])


def video_note(kit: Kit) -> None:
    s = kit.file("square.mp4")
    kit.send(video_note={"file_id": s.file_id, "file_unique_id": s.unique_id, "length": 64, "duration": 1,
                         "file_size": s.size})


async def edited_caption(kit: Kit) -> None:
    """A clip is processed; then its caption is edited. Expect no second render."""
    stored = kit.file("healthy.mp4")
    posted = kit.send(caption="calm piano", video=video_field(stored, width=64, height=48, duration=1))
    await kit.fake.wait_for(lambda f: [c for c in f.of("sendVideo") if int(c.params["chat_id"]) == kit.chat_id],
                            timeout=120)
    edited = {**posted, "caption": "energetic rock instead", "edit_date": posted["date"] + 5}
    edited.pop("caption_entities", None)
    kit.raw("edited_message", edited)


def edited_text(kit: Kit) -> None:
    m = message(kit.chat(), kit.sender(), text="music at 20%")
    m["edit_date"] = m.setdefault("date", 1_700_000_000) + 5
    kit.raw("edited_message", m)


def channel_post(kit: Kit) -> None:
    stored = kit.file("healthy.mp4")
    kit.raw("channel_post", {"chat": {"id": -kit.chat_id - 1_000_000_000_000, "type": "channel", "title": "News"},
                             "sender_chat": {"id": -kit.chat_id - 1_000_000_000_000, "type": "channel",
                                             "title": "News"},
                             "caption": "add music", "video": video_field(stored, width=64, height=48, duration=1)})


def from_a_bot(kit: Kit) -> None:
    stored = kit.file("healthy.mp4")
    other = {"id": kit.user_id + 1, "is_bot": True, "first_name": "Other bot", "username": "other_bot"}
    kit.fake.inject(message(kit.chat(), other, caption=f"@{BOT_USERNAME} music",
                            video=video_field(stored, width=64, height=48, duration=1)))


def new_members(kit: Kit) -> None:
    kit.send(new_chat_members=[user(kit.user_id + 7, name="Bob"),
                               {"id": BOT_ID, "is_bot": True, "first_name": "AI With Music",
                                "username": BOT_USERNAME}])


def pinned(kit: Kit) -> None:
    kit.send(pinned_message={"message_id": 1, "date": 0, "chat": kit.chat()})


def callback_query(kit: Kit) -> None:
    kit.raw("callback_query", {"id": f"cb{kit.chat_id}", "from": kit.sender(), "chat_instance": "ci1",
                               "data": "render_again",
                               "message": {"message_id": 1, "date": 0, "chat": kit.chat()}})


def inline_query(kit: Kit) -> None:
    kit.raw("inline_query", {"id": f"iq{kit.chat_id}", "from": kit.sender(), "query": "music for my clip",
                             "offset": ""})


def command_with_lone_surrogate(kit: Kit) -> None:
    # "/music" then a lone high surrogate, as a JSON "\ud800" escape would decode in Python.
    text("/music \ud800 calm", entities=[{"type": "bot_command", "offset": 0, "length": 6}])(kit)


def mention_after_surrogate(kit: Kit) -> None:
    value = f"\ud83d @{BOT_USERNAME} hi"
    text(value, entities=[{"type": "mention", "offset": 2, "length": len(BOT_USERNAME) + 1}])(kit)


NOT_VIDEO = "not_video"


def refused_kind(kind: str) -> Expect:
    return Expect(key=NOT_VIDEO, known={"kind": kind_name(kind, "en")}, downloaded=False)


# --- the table -------------------------------------------------------------------------------

CASES: list[Case] = [
    # Wrong things with a video name: downloaded, probed, refused in plain words.
    Case("png-named-clip.mp4", as_document("png.mp4"), reply("bad_video", contains="picture")),
    Case("text-named-clip.mp4", as_document("text.mp4"), reply("bad_video", contains="text")),
    Case("zip-named-clip.mp4", as_document("zip.mp4"), reply("bad_video", contains="ZIP")),
    Case("mp3-named-clip.mp4", as_document("mp3.mp4"), reply("bad_video", contains="only has sound")),
    Case("mp3-sent-as-video", as_video("mp3.mp4"), reply("bad_video", contains="only has sound")),
    Case("cut-in-the-middle", as_document("cut_middle.mp4"), reply("bad_video", contains="cut short")),
    Case("moov-missing", as_document("no_moov.mp4"), reply("bad_video", contains="incomplete")),
    Case("zero-bytes", as_document("empty.mp4"), reply("bad_video", contains="empty")),
    Case("audio-only-mp4", as_video("audio_only.mp4"), reply("bad_video", contains="only has sound")),
    Case("single-frame", as_video("single_frame.mp4"), reply("too_short_for_bot", duration="0.04 s", limit="0.5 s")),
    # Claims in the update versus the real file.
    Case("claims-1x1", as_video("healthy.mp4", width=1, height=1), video()),
    Case("claims-20000x20000", as_video("healthy.mp4", width=20000, height=20000), video()),
    Case("real-2x2", as_video("tiny_2x2.mp4", width=2, height=2), reply("bad_video", contains="2x2 pixels")),
    Case("real-7x5", as_document("tiny_7x5.mp4"), reply("bad_video", contains="7x5 pixels")),
    Case("real-35x27-odd-sides", as_video("odd_35x27.mp4", width=35, height=27), video()),
    Case("claims-0-seconds", as_video("healthy.mp4", duration=0), video()),
    Case("claims-86400-seconds", as_video("healthy.mp4", duration=86400),
         reply("too_long_for_bot", downloaded=False, duration="1440:00", limit="10:00")),
    Case("ten-minutes-exactly", as_video("ten_minutes.mp4", width=32, height=32, duration=600), video()),
    Case("claims-601-seconds", as_video("ten_minutes_one.mp4", width=32, height=32, duration=601),
         reply("too_long_for_bot", downloaded=False, duration="10:01", limit="10:00")),
    Case("601-seconds-unclaimed", as_document("ten_minutes_one.mp4"),
         reply("bad_video", downloaded=True, contains="10:01 long")),
    # Huge text.
    Case("caption-1024", as_video("healthy.mp4", caption=("calm piano, " * 100)[:1024]), video()),
    Case("text-4096", text(("make it lo-fi " * 300)[:4096]), AGENT),
    # Odd Unicode.
    Case("rtl-override", text("\u202eoif-ol ti ekam\u202c"), AGENT),
    Case("zero-width-joiners", text("lo\u200dfi\u200b\u200c\u2060 please"), AGENT),
    Case("emoji-zwj", text("👩‍👩‍👧‍👦🏳️‍🌈 party music"), AGENT),
    Case("combining-marks", text("Z̷̢̛a̶͔͝l̸̰̈g̵̱̈o̶̜͝ music"), AGENT),
    Case("lone-surrogate-text", text("music \ud800 here \udfff"), AGENT),
    Case("lone-surrogate-command", command_with_lone_surrogate, AGENT),
    Case("lone-surrogate-before-mention", mention_after_surrogate, AGENT, group=True),
    Case("nul-character", text("music\x00at 20%"), AGENT),
    Case("chinese-text", text("请加上欢快的音乐"), AGENT, language="zh"),
    # File names with path parts: the clip is used, nothing lands outside the data folder.
    Case("name-dot-dot-passwd", as_document("healthy.mp4", file_name="../../etc/passwd.mp4"), video()),
    Case("name-windows-path", as_document("healthy.mp4", file_name="C:\\x\\y.mp4"), video()),
    Case("name-slash-and-nul", as_document("healthy.mp4", file_name="a/b\x00c.mp4"), video()),
    # Other kinds of media.
    Case("sticker-static", sticker("sticker.webp"), refused_kind("sticker")),
    Case("sticker-animated-tgs", sticker("sticker.tgs", animated=True), refused_kind("sticker")),
    Case("sticker-video-webm", sticker("sticker.webm", video_sticker=True), refused_kind("sticker")),
    Case("voice-note", voice, refused_kind("voice")),
    Case("video-note", video_note, video()),
    Case("audio-file", audio, refused_kind("audio")),
    Case("photo", photo, refused_kind("photo")),
    Case("poll", content(poll={"id": "p1", "question": "Which music?", "options": [
        {"text": "piano", "voter_count": 0, "persistent_id": "o1"},
        {"text": "rock", "voter_count": 0, "persistent_id": "o2"}], "total_voter_count": 0,
        "is_closed": False, "is_anonymous": True, "type": "regular", "allows_multiple_answers": False,
        "allows_revoting": True, "members_only": False}),
        reply("help")),
    Case("contact", content(contact={"phone_number": "+10000000000", "first_name": "Bob"}), reply("help")),
    Case("location", content(location={"latitude": 48.85, "longitude": 2.35}), reply("help")),
    Case("dice", content(dice={"emoji": "🎲", "value": 3}), reply("help")),
    Case("unknown-command", text("/frobnicate now", entities=[{"type": "bot_command", "offset": 0, "length": 11}]),
         reply("help")),
    # Updates that deserve no answer.
    Case("edited-caption-after-render", edited_caption, video()),
    Case("edited-text", edited_text, SILENCE, sentinel=True),
    Case("channel-post", channel_post, SILENCE),
    Case("message-from-a-bot", from_a_bot, SILENCE, group=True, sentinel=True),
    Case("service-new-members", new_members, SILENCE, group=True, sentinel=True),
    Case("service-pinned", pinned, SILENCE, group=True, sentinel=True),
    Case("unasked-callback-query", callback_query, SILENCE, sentinel=True),
    Case("unasked-inline-query", inline_query, SILENCE, sentinel=True),
]
