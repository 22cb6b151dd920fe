"""Anonymous token, sessions, credits, claim links and the auth error codes."""

from __future__ import annotations

from datetime import datetime, timezone

from tests.backend.conftest import Api


async def test_anonymous_token_needs_client_id(backend, http):
    api = Api(http, backend.url)
    status, body = await api.call("POST", "/api/auth/anonymous-token", headers={})
    assert status == 400


async def test_token_shape_expiry_and_credits(backend, http):
    api = Api(http, backend.url)
    data = await api.login()
    assert data["token"].startswith("nmv_usr_")
    assert data["user_id"].startswith("anon_")
    assert data["credits"] == 100
    expires = datetime.strptime(data["expires_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    days = (expires - datetime.now(timezone.utc)).total_seconds() / 86400
    assert 6.9 < days <= 7.0


async def test_same_client_id_means_same_account(backend, http):
    first, second, other = Api(http, backend.url), Api(http, backend.url), Api(http, backend.url)
    second.client_id = first.client_id
    a, b, c = await first.login(), await second.login(), await other.login()
    assert a["user_id"] == b["user_id"] and a["token"] == b["token"]
    assert c["user_id"] != a["user_id"]


async def test_bad_or_missing_token_is_1001(backend, http):
    api = Api(http, backend.url)
    status, body = await api.call("GET", "/api/credits/balance/simple", headers={})
    assert body["code"] == 1001
    api.token = "nmv_usr_not-a-real-token"
    status, body = await api.call("GET", "/api/credits/balance/simple")
    assert body["code"] == 1001 and "sign in" in body["message"]


async def test_session_create_returns_ids(api):
    status, body = await api.call("POST", "/api/tasks/me/with-session/nemo_agent",
                                  json={"task_name": "project", "language": "zh-CN"})
    data = body["data"]
    assert body["code"] == 0 and len(data["session_id"]) == 19 and data["session_id"].isdigit()
    assert data["task_id"].startswith("task_") and data["user_id"].startswith("anon_")
    # language is optional
    status, body = await api.call("POST", "/api/tasks/me/with-session/nemo_agent", json={"task_name": "project"})
    assert body["code"] == 0


async def test_unknown_session_state_is_1002(api):
    status, body = await api.state("1234567890123456789")
    assert body["code"] == 1002


async def test_other_users_session_is_not_visible(api, backend, http):
    sid = await api.new_session()
    intruder = Api(http, backend.url)
    await intruder.login()
    status, body = await intruder.state(sid)
    assert body["code"] == 1002


async def test_credits_balance(api):
    assert await api.credits() == {"available": 100, "frozen": 0, "total": 100}


async def test_claim_token_and_browser_link(api, http, backend):
    sid = await api.new_session()
    status, state = await api.state(sid)
    status, body = await api.call("POST", "/api/auth/claim-token",
                                  json={"task_id": state["data"]["task_id"], "session_id": sid})
    assert body["code"] == 0
    claim = body["data"]["claim_token"]
    assert claim.startswith("clm_") and body["data"]["expires_in"] == 604800
    async with http.get(f"{backend.url}/workspace/claim", params={"ct": claim}) as resp:
        assert resp.status == 200 and "project" in await resp.text()
    async with http.get(f"{backend.url}/workspace/claim", params={"ct": "clm_nope"}) as resp:
        assert resp.status == 404
    status, body = await api.call("POST", "/api/auth/claim-token", json={"task_id": "x", "session_id": "999"})
    assert body["code"] == 1002


async def test_business_errors_can_carry_a_4xx_status(tmp_path, http):
    from backend.config import BackendConfig
    from backend.server import LocalBackend

    async with LocalBackend(BackendConfig(data_dir=tmp_path / "d", business_error_status=401)) as b:
        api = Api(http, b.url)
        api.token = "nmv_usr_nope"
        status, body = await api.call("GET", "/api/credits/balance/simple")
        assert status == 401 and body["code"] == 1001
