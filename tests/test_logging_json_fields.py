"""AIWM_LOG_FORMAT=json beyond plain records (tests/test_logging_json.py has those): `extra=` fields,
UTC timestamps, stack info, Python warnings, and a crash of a real Python process, each still
one masked JSON object per line.
"""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import warnings
from datetime import datetime
from pathlib import Path

import pytest

from bots.logging_setup import setup_logging

ROOT = Path(__file__).resolve().parent.parent
SECRET = "op-secret-9f8e7d6c"
BOT_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


@pytest.fixture
def json_log(monkeypatch):
    """setup_logging in json mode, writing into a buffer; the process-wide hooks are put back after."""
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    setup_logging("DEBUG", "json", [SECRET])
    stream = io.StringIO()
    root.handlers[0].setStream(stream)
    yield stream
    logging.captureWarnings(False)
    root.handlers[:], root.level = saved


def _records(stream: io.StringIO) -> list[dict]:
    lines = stream.getvalue().splitlines()
    records = [json.loads(line) for line in lines]  # raises on any line that is not one object
    assert all(isinstance(record, dict) for record in records)
    return records


def test_times_are_iso_8601_utc_and_odd_characters_survive(json_log) -> None:
    log = logging.getLogger("aiwm.test")
    log.info("job %s for chat %s", "j1", "telegram:42")
    log.warning("two\nlines and 中文 too")
    log.debug("quotes \" and backslashes \\ survive")

    records = _records(json_log)
    assert [r["level"] for r in records] == ["INFO", "WARNING", "DEBUG"]
    assert records[0]["message"] == "job j1 for chat telegram:42" and records[0]["logger"] == "aiwm.test"
    assert records[1]["message"] == "two\nlines and 中文 too"
    assert records[2]["message"] == 'quotes " and backslashes \\ survive'
    stamp = datetime.fromisoformat(records[0]["time"])
    assert stamp.utcoffset() is not None and stamp.utcoffset().total_seconds() == 0  # UTC, with the zone


def test_extra_fields_become_keys_and_are_masked(json_log) -> None:
    logging.getLogger("aiwm.test").info("render done", extra={
        "chat": "telegram:42", "seconds": 12.5, "render_url": f"http://x/?t={SECRET}", "path": Path("/data/x.mp4")})

    (record,) = _records(json_log)
    assert record["chat"] == "telegram:42" and record["seconds"] == 12.5
    assert record["path"] == "/data/x.mp4"  # not JSON-native: written as text, the line stays valid
    assert record["render_url"] == "http://x/?t=***"


def test_stack_info_and_python_warnings_are_records_too(json_log) -> None:
    logging.getLogger("aiwm.test").info("where am I", stack_info=True)
    warnings.warn("something is deprecated", DeprecationWarning, stacklevel=1)

    stack_record, warning_record = _records(json_log)
    assert "test_stack_info_and_python_warnings_are_records_too" in stack_record["stack"]
    assert warning_record["logger"] == "py.warnings" and "something is deprecated" in warning_record["message"]


def test_a_crash_is_logged_as_one_masked_json_record() -> None:
    """An exception nobody caught (the process dies) is still one JSON line, not a bare traceback."""
    program = (
        "from bots.logging_setup import setup_logging\n"
        f"setup_logging('INFO', 'json', [{SECRET!r}])\n"
        f"raise RuntimeError('startup failed: ' + {SECRET!r} + ' ' + {BOT_TOKEN!r})\n"
    )
    done = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=60)

    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    record = json.loads(lines[0])
    assert record["level"] == "CRITICAL"
    assert "RuntimeError: startup failed: ***" in record["exception"]
    assert SECRET not in done.stderr and "AAHdqTcv" not in done.stderr


def test_a_secret_inside_an_extra_object_is_masked(json_log) -> None:
    logging.getLogger("aiwm.test").info("request", extra={"headers": {"Authorization": f"Bearer {SECRET}"}})

    (record,) = _records(json_log)
    assert SECRET not in json_log.getvalue() and "***" in record["headers"]
