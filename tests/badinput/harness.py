"""The product for the corpus: real PTB against the fake Bot API, the real Core (with the operator
defaults `aiwm run` uses), the real Nemo client and the real local backend, shared by a module.

Each corpus case talks in chats of its own, so one shared product serves them all; `Outbox`
reads what the bot sent to one chat.
"""

from __future__ import annotations

import itertools
import re
import time
from dataclasses import dataclass
from pathlib import Path

from adapters.telegram import TelegramSurface
from backend.config import BackendConfig
from backend.server import LocalBackend
from bots.runtime import core_config_from
from core.app import Core
from core.i18n import MESSAGES, say
from core.nemo.client import NemoClient
from core.store import Store
from tests.telegram.conftest import FAST, settings_for
from tests.telegram.fake_bot_api import FakeBotApi

WAIT = float(__import__("os").environ.get("BADINPUT_WAIT", "120"))  # liveness bound for real renders on two cores, not a speed check
_PROGRESS = ("📥", "📤", "🎼", "🎬", "📦", "📐", "📨", "⏳")


@dataclass
class Product:
    root: Path
    fake: FakeBotApi
    backend: LocalBackend
    core: Core
    surface: TelegramSurface
    store: Store
    client: NemoClient

    @property
    def data_dir(self) -> Path:
        return self.root / "bot"


async def start_product(root: Path) -> Product:
    fake = FakeBotApi(root / "fake")
    await fake.start()
    # One anonymous account pays for every case (the 10-minute clip alone costs 20 credits).
    backend = LocalBackend(BackendConfig(data_dir=root / "backend", test_mode=True, heartbeat_interval=0.2,
                                         start_credits=100_000))
    await backend.start()
    store = await Store(root / "bot.sqlite3").open()
    client = NemoClient(backend.url, credentials=store, render_poll_interval=0.1)
    settings = settings_for(fake, telegram_album_wait=0.3, aiwm_data_dir=root / "bot")
    surface = TelegramSurface.from_settings(settings, **FAST)
    core = Core(core_config_from(settings), client, store, {surface.name: surface})
    surface.bind(core)
    await core.start()
    await surface.start()
    return Product(root, fake, backend, core, surface, store, client)


async def stop_product(p: Product) -> None:
    await p.surface.stop()
    await p.core.stop()
    await p.client.close()
    await p.store.close()
    await p.backend.stop()
    await p.fake.stop()


_ids = itertools.count(1)


def fresh_id() -> int:
    """A user/chat id no other case uses."""
    return 70_000 + next(_ids)


def inject_update(fake: FakeBotApi, kind: str, payload: dict) -> int:
    """Queue an update of any kind (edited_message, channel_post, callback_query...).

    FakeBotApi.inject only builds `message` updates; this mirrors it for the others.
    """
    if kind == "message":
        return fake.inject(payload)
    update_id = next(fake._update_ids)
    if "chat" in payload:
        payload.setdefault("message_id", next(fake._message_ids))
        payload.setdefault("date", int(time.time()))
    fake._updates.append({"update_id": update_id, kind: payload})
    fake._new_update.set()
    return update_id


class Outbox:
    """What the bot sent to one chat: every text it showed (sent or edited in) and its videos."""

    def __init__(self, fake: FakeBotApi, chat_id: int) -> None:
        self.fake = fake
        self.chat_id = chat_id

    def _calls(self, *methods: str):
        return [c for c in self.fake.calls if c.method in methods and str(c.params.get("chat_id")) == str(self.chat_id)]

    @property
    def texts(self) -> list[str]:
        return [c.params["text"] for c in self._calls("sendMessage", "editMessageText")]

    @property
    def final_texts(self) -> list[str]:
        """Texts that are answers, not progress lines."""
        return [t for t in self.texts if not t.startswith(_PROGRESS)]

    @property
    def sent_messages(self) -> int:
        return len(self._calls("sendMessage"))

    @property
    def videos(self):
        return self._calls("sendVideo")

    @property
    def anything(self) -> int:
        return len([c for c in self.fake.calls if str(c.params.get("chat_id")) == str(self.chat_id)
                    and c.method != "sendChatAction"])


def pattern_of(key: str, lang: str = "en", **known: object) -> re.Pattern[str]:
    """The i18n template of `key` as a regex: given values filled in, the others match anything."""
    template = MESSAGES[key].get(lang) or MESSAGES[key]["en"]
    parts = re.split(r"(\{\w+\})", template)
    regex = ""
    for part in parts:
        name = part[1:-1] if part.startswith("{") and part.endswith("}") else None
        if name is None:
            regex += re.escape(part)
        elif name in known:
            regex += re.escape(str(known[name]))
        else:
            regex += ".+?"
    return re.compile(regex + r"\Z", re.DOTALL)


def says(text: str, key: str, lang: str = "en", **known: object) -> bool:
    if not known and "{" not in (MESSAGES[key].get(lang) or MESSAGES[key]["en"]):
        return text == say(key, lang)
    return bool(pattern_of(key, lang, **known).match(text))
