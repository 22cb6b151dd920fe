"""No secret in any log line: known values and token shapes are masked, in messages and tracebacks."""

from __future__ import annotations

import io
import logging

from bots.logging_setup import SecretFilter, setup_logging

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


def _capture(secrets=()) -> tuple[logging.Logger, io.StringIO]:
    setup_logging("DEBUG", "text", secrets)
    stream = io.StringIO()
    root = logging.getLogger()
    root.handlers[0].setStream(stream)
    return logging.getLogger("test.secrets"), stream


def test_token_shapes_are_masked_even_when_the_value_is_unknown() -> None:
    text = SecretFilter().redact(
        f"GET https://api.telegram.org/bot{TOKEN}/getMe and "
        f"https://api.telegram.org/file/bot{TOKEN.replace(':', '%3A')}/videos/x.mp4 "
        "Authorization: Bearer nmv_usr_abcdef123456 "
        "PATCH https://discord.com/api/v10/webhooks/111222333/aW50ZXJhY3Rpb246MTIzNDU2Nzg5OnRva2Vu/messages/@original"
    )
    assert "AAHdqTcv" not in text and "nmv_usr_abc" not in text and "aW50ZXJhY3Rpb24" not in text
    assert "api.telegram.org" in text  # the rest of the line stays readable


def test_known_secrets_are_masked_in_messages_arguments_and_tracebacks() -> None:
    log, stream = _capture(["s3cr3t-value-xyz"])
    log.info("token is %s", "s3cr3t-value-xyz")
    try:
        raise RuntimeError(f"failed with {TOKEN}")
    except RuntimeError:
        log.exception("boom")
    output = stream.getvalue()
    assert "s3cr3t-value-xyz" not in output and "AAHdqTcv" not in output
    assert "token is ***" in output and "RuntimeError" in output


def test_json_lines_are_masked_too() -> None:
    setup_logging("INFO", "json", ["another-secret-123"])
    stream = io.StringIO()
    logging.getLogger().handlers[0].setStream(stream)
    logging.getLogger("test.json").warning("leak another-secret-123?")
    assert "another-secret-123" not in stream.getvalue() and "***" in stream.getvalue()
