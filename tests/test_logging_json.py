"""AIWM_LOG_FORMAT=json: every line a log shipper reads is one JSON object, tracebacks included,
and the secret filter has already masked it (it runs on the handler, before the formatter)."""

from __future__ import annotations

import io
import json
import logging
import sys
from urllib.parse import quote

import pytest

from bots.logging_setup import MASK, setup_logging

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
NEMO = "nmv_usr_Zx81QpLm20aaBBccDDee"
OPERATOR_SECRET = "hunter2-webhook-secret"


@pytest.fixture
def json_log():
    """setup_logging as `aiwm run` calls it, its handler writing into a buffer; the root logger
    and the hooks setup_logging touches are put back afterwards."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level, sys.excepthook
    setup_logging("DEBUG", "json", [TOKEN, quote(TOKEN, safe=""), NEMO, OPERATOR_SECRET])
    stream = io.StringIO()
    root.handlers[0].setStream(stream)
    yield stream
    root.handlers[:], level, sys.excepthook = saved
    root.setLevel(level)
    logging.captureWarnings(False)


def records(stream: io.StringIO) -> list[dict]:
    lines = stream.getvalue().splitlines()
    assert lines, "nothing was logged"
    parsed = []
    for line in lines:
        value = json.loads(line)  # fails the test on any line that is not one JSON document
        assert isinstance(value, dict), line
        parsed.append(value)
    return parsed


def test_each_record_is_one_json_object_with_level_logger_and_message(json_log) -> None:
    logging.getLogger("core.app").info("chat %s queued %d clips", "telegram", 2)
    logging.getLogger("adapters.telegram").warning("two\nlines in one message")
    logging.getLogger("core.i18n").debug("回复: 已添加背景音乐")
    got = records(json_log)
    assert len(got) == 3  # the newline inside a message did not split its record
    assert [(r["level"], r["logger"]) for r in got] == [
        ("INFO", "core.app"), ("WARNING", "adapters.telegram"), ("DEBUG", "core.i18n")]
    assert got[0]["message"] == "chat telegram queued 2 clips"
    assert got[1]["message"] == "two\nlines in one message"
    assert got[2]["message"] == "回复: 已添加背景音乐"  # not \u-escaped: readable in a log viewer
    assert all(isinstance(r["time"], str) and r["time"] for r in got)


def test_an_exception_is_part_of_its_record_as_one_string(json_log) -> None:
    log = logging.getLogger("core.conversation")
    try:
        try:
            {}["render"]
        except KeyError as inner:
            raise RuntimeError("render poll failed") from inner
    except RuntimeError:
        log.exception("export ended")
    log.info("next record")
    got = records(json_log)
    assert [r["message"] for r in got] == ["export ended", "next record"]
    trace = got[0]["exception"]
    assert trace.startswith("Traceback (most recent call last):")
    assert "KeyError: 'render'" in trace and "RuntimeError: render poll failed" in trace
    assert "test_an_exception_is_part_of_its_record_as_one_string" in trace  # the frames are kept
    assert "exception" not in got[1]


def test_secrets_are_masked_in_messages_arguments_and_tracebacks(json_log) -> None:
    log = logging.getLogger("telegram.ext.ExtBot")
    log.debug("GET https://api.telegram.org/bot%s/getUpdates", TOKEN)
    log.debug("file https://api.telegram.org/file/bot%s/videos/file_1.mp4", quote(TOKEN, safe=""))
    log.info("headers %s", {"Authorization": f"Bearer {NEMO}"})
    log.warning("webhook secret is " + OPERATOR_SECRET)
    try:
        raise ConnectionError(f"POST https://api.telegram.org/bot{TOKEN}/sendVideo failed ({NEMO})")
    except ConnectionError:
        log.error("upload broke off", exc_info=True)
    output = json_log.getvalue()
    for secret in (TOKEN, quote(TOKEN, safe=""), "AAHdqTcvCH1v", NEMO, OPERATOR_SECRET):
        assert secret not in output
    got = records(json_log)
    assert len(got) == 5
    assert got[0]["message"] == f"GET https://api.telegram.org/bot{MASK}/getUpdates"
    assert "ConnectionError: POST https://api.telegram.org/bot" in got[4]["exception"]
    assert MASK in got[4]["exception"]


def test_token_shaped_values_nobody_registered_are_masked_too(json_log) -> None:
    stranger = "987654321:ZZtotallyUnknownTokenValue_abcdefghij"
    logging.getLogger("discord.http").debug("retrying with %s and Bearer eyJhbGciOi.payload.sig", stranger)
    (record,) = records(json_log)
    assert "ZZtotallyUnknown" not in record["message"] and "eyJhbGciOi" not in record["message"]
    assert record["message"].startswith("retrying with ")


def test_text_format_stays_the_default(monkeypatch) -> None:
    """Without AIWM_LOG_FORMAT the bot logs text, so JSON is something the operator asks for."""
    from bots.settings import Settings

    monkeypatch.delenv("AIWM_LOG_FORMAT", raising=False)
    assert Settings(_env_file=None).aiwm_log_format == "text"
    monkeypatch.setenv("AIWM_LOG_FORMAT", "json")
    assert Settings(_env_file=None).aiwm_log_format == "json"
