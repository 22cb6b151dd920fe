"""Mapping every documented error form to a typed exception (nemo-api.md §10)."""

from __future__ import annotations

import pytest

from core.nemo import errors as e


@pytest.mark.parametrize("status,body,cls,code", [
    (200, {"code": 1001, "message": "token expired"}, e.TokenExpired, 1001),
    (401, {"code": 1001, "message": "token expired"}, e.TokenExpired, 1001),
    (200, {"code": 1002, "message": "session not found"}, e.SessionNotFound, 1002),
    (200, {"code": 1010, "message": "bad key"}, e.TokenInvalid, 1010),
    (401, None, e.TokenInvalid, 401),
    (200, {"code": 2001, "message": "no credits"}, e.NoCredits, 2001),
    (200, {"code": 4001, "message": "bad type"}, e.UnsupportedFile, 4001),
    (413, {"code": 4002, "message": "too big"}, e.FileTooLarge, 4002),
    (400, {"detail": "X-Client-Id required"}, e.BadRequest, 400),
    (402, {"code": 402, "message": "export blocked"}, e.PaymentRequired, 402),
    (402, "Payment Required", e.PaymentRequired, 402),
    (404, {"detail": "Session not found"}, e.SessionNotFound, 404),
    (422, {"detail": [{"loc": ["body", "new_message", "bogus"], "msg": "Extra inputs are not permitted"}]},
     e.ValidationFailed, 422),
    (429, {"code": 429}, e.RateLimited, 429),
    (503, None, e.BackendUnavailable, 503),
    (500, {"error": "boom"}, e.BackendUnavailable, 500),
    (418, None, e.NemoError, 418),
    (200, {"code": 9999, "message": "odd"}, e.NemoError, 9999),
])
def test_error_forms(status, body, cls, code):
    err = e.error_from_response(status, body, {})
    assert type(err) is cls
    assert err.code == code
    assert err.user_message and "\n" not in err.user_message


def test_success_forms_are_not_errors():
    assert e.error_from_response(200, {"code": 0, "data": {}}, {}) is None
    assert e.error_from_response(200, {"success": True, "data": {}}, {}) is None
    assert e.error_from_response(200, {"anything": 1}, {}) is None


def test_success_false_is_an_error_with_its_text():
    err = e.error_from_response(200, {"success": False, "error": "invalid draft"}, {})
    assert type(err) is e.NemoError and err.detail == "invalid draft"


def test_validation_detail_is_readable():
    err = e.error_from_response(422, {"detail": [{"loc": ["body", "x"], "msg": "field required"}]}, {})
    assert err.detail == "body.x: field required"


def test_retry_after_header():
    assert e.error_from_response(429, None, {"Retry-After": "7"}).retry_after == 7
    assert e.error_from_response(429, None, {}).retry_after == 30
    assert e.error_from_response(429, None, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}).retry_after == 30


def test_no_token_in_any_error_text():
    body = {"code": 1001, "message": "token nmv_usr_SECRET123 expired, header Bearer nmv_usr_SECRET123"}
    err = e.error_from_response(200, body, {})
    assert "SECRET123" not in str(err) and "SECRET123" not in (err.detail or "")
    assert "SECRET123" not in repr(err)


def test_no_credits_carries_registration_link():
    err = e.NoCredits(register_url="https://nemovideo.com/register?bind=anon_1")
    assert err.register_url.endswith("bind=anon_1")
    assert "https://nemovideo.com/register?bind=anon_1" in err.user_message
