"""The bot token never reaches a log line, even with every logger at DEBUG."""

from __future__ import annotations

import logging

import pytest

from bots.logging_setup import setup_logging
from tests.telegram.conftest import settings_for
from tests.telegram.fake_bot_api import TOKEN, message, private_chat, user, video_field


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    saved = (root.handlers[:], root.level,
             {n: logging.getLogger(n).level for n in ("httpx", "httpcore", "telegram", "adapters")})
    yield
    root.handlers[:], root.level = saved[0], saved[1]
    for name, level in saved[2].items():
        logging.getLogger(name).setLevel(level)


class _LeakyHandler:
    """Fails with a message that quotes a file URL, as an httpx error might."""

    def __init__(self, inner, file_url):
        self.inner, self.file_url = inner, file_url

    async def handle(self, event):
        if event.text == "leak":
            raise RuntimeError(f"download failed: {self.file_url}{TOKEN}/videos/file_1.mp4")
        await self.inner.handle(event)


async def test_token_is_masked_in_every_log_line(fake, handler, running, clip, capsys, restore_logging):
    setup_logging("DEBUG", "text", secrets=settings_for(fake).secrets())
    surface = await running(_LeakyHandler(handler, fake.file_url))
    # Turn the noisiest loggers all the way up: the filter must still mask the token.
    for name in ("httpx", "httpcore", "telegram"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    fake.fail_once("sendMessage", 429, retry_after=1)
    fake.inject(message(private_chat(), user(), video=video_field(fake.add_file(clip))))
    fake.inject(message(private_chat(), user(), text="leak"))
    await fake.wait_for(lambda f: f.of("sendVideo") and any("went wrong" in c.params["text"]
                                                            for c in f.of("sendMessage")))
    await surface.stop()
    logged = capsys.readouterr().err
    assert "HTTP Request: POST" in logged and "getFile" in logged, "the HTTP path was not logged at all"
    assert "telegram event handler failed" in logged
    assert TOKEN not in logged
    assert TOKEN.split(":")[1] not in logged  # not even URL-encoded (file URLs quote the colon)


async def test_adapter_alone_keeps_httpx_quiet(fake, handler, running, clip, caplog):
    """Even before the composition root installs the filter, no INFO record carries the token."""
    caplog.set_level(logging.INFO)
    await running()
    fake.inject(message(private_chat(), user(), video=video_field(fake.add_file(clip))))
    await fake.wait_for(lambda f: f.of("sendVideo"))
    assert caplog.records, "nothing was logged"
    assert not [r for r in caplog.records if TOKEN in r.getMessage()]
