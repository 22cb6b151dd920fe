"""The ops endpoints through real parts: the ops server on loopback, the real core with the real
Nemo client, the real local backend over HTTP, real SQLite and a real render; and the shipped
`aiwm run` as a child process with AIWM_OPS_PORT set.

The metrics registry is process-wide (as in the bot), so counters are compared before and after.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from backend.config import BackendConfig
from backend.server import LocalBackend
from bots.ops_server import OpsServer
from bots.settings import Settings
from core.app import Core, CoreConfig
from core.i18n import say
from core.nemo.client import NemoClient
from core.ports import SurfaceLimits
from core.store import SENDING, Job, Store
from tests.clips import make_clip
from tests.core.memory_surface import MemorySurface

WAIT = 120.0  # liveness bound, not a speed check


class OpsRig:
    """Backend, store, client, core and ops server wired as `aiwm run` wires them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.surface = MemorySurface(root)
        self.backend = LocalBackend(BackendConfig(data_dir=root / "backend", test_mode=True, heartbeat_interval=0.2))

    async def start(self) -> None:
        await self.backend.start()
        self.store = await Store(self.root / "bot.sqlite3").open()
        self.client = NemoClient(self.backend.url, credentials=self.store, render_poll_interval=0.1,
                                 get_retries=0)
        self.core = Core(CoreConfig(data_dir=self.root / "bot"), self.client, self.store, {"test": self.surface})
        # No caching of the backend check here, so a stopped backend shows at the next probe.
        self.ops = OpsServer(self.core, host="127.0.0.1", port=0, backend_check_interval=0, backend_timeout=1.0)
        await self.ops.start()
        await self.core.start()
        self.ops.serving()
        self.http = aiohttp.ClientSession()

    async def stop(self) -> None:
        await self.http.close()
        await self.ops.stop()
        await self.core.stop()
        await self.client.close()
        await self.store.close()
        await self.backend.stop()

    async def get(self, path: str) -> tuple[int, str]:
        async with self.http.get(self.ops.url + path) as response:
            return response.status, await response.text()

    async def health(self) -> tuple[int, dict]:
        status, text = await self.get("/healthz")
        return status, json.loads(text)

    async def metrics(self) -> dict[tuple[str, tuple], float]:
        """Every sample on /metrics as {(name, sorted labels): value}."""
        status, text = await self.get("/metrics")
        assert status == 200, text
        return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
                for family in text_string_to_metric_families(text) for sample in family.samples}

    async def say(self, chat: str, text: str = "", clips=(), **kw) -> None:
        await self.core.handle(self.surface.event(chat, text, list(clips), **kw))
        assert await self.core.drain(WAIT), "the core did not finish its work"

    async def faults(self, faults: dict) -> None:
        async with self.http.post(f"{self.backend.url}/_test/faults", json={"faults": faults}) as response:
            assert response.status == 200, await response.text()


@pytest.fixture
async def rig(tmp_path: Path):
    the_rig = OpsRig(tmp_path)
    await the_rig.start()
    yield the_rig
    await the_rig.stop()


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return make_clip(tmp_path / "holiday.mp4", duration=1.5, audio="tone")


def _value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_healthz_is_ok_while_serving_and_503_when_the_backend_goes_down(rig: OpsRig) -> None:
    status, body = await rig.health()
    assert status == 200, body
    assert body["status"] == "ok" and body["backend"] == "ok"
    assert body["surfaces"] == {"test": "ok"}
    assert body["uptime_s"] >= 0

    await rig.backend.stop()
    status, body = await rig.health()
    assert status == 503
    assert body["backend"] == "down" and body["status"] == "degraded"


async def test_healthz_is_503_while_starting_and_stopping(rig: OpsRig) -> None:
    # A registry of its own: one bot's registry takes one ops server (aiwm_jobs is registered once).
    fresh = OpsServer(rig.core, port=0, backend_check_interval=0, registry=CollectorRegistry())
    await fresh.start()
    try:
        async with rig.http.get(fresh.url + "/healthz") as response:
            assert response.status == 503
            assert (await response.json())["status"] == "starting"
        fresh.serving()
        async with rig.http.get(fresh.url + "/healthz") as response:
            assert response.status == 200
        fresh.stopping()
        async with rig.http.get(fresh.url + "/healthz") as response:
            assert response.status == 503
            assert (await response.json())["status"] == "stopping"
    finally:
        await fresh.stop()


async def test_healthz_never_shows_addresses_or_tokens(rig: OpsRig) -> None:
    await rig.say("dm1", "/credits", command="credits")  # the client now holds a backend token
    token = await rig.store.credential("nemo_token") or ""
    _status, text = await rig.get("/healthz")
    assert "http" not in text and "127.0.0.1" not in text
    assert str(rig.backend.url.rsplit(":", 1)[-1]) not in text  # not even the backend's port
    assert token and token not in text


async def test_metrics_show_a_delivered_job_its_state_and_the_turn(rig: OpsRig, clip: Path) -> None:
    before = await rig.metrics()

    await rig.say("dm1", clips=[clip])

    chat = rig.surface.chats["dm1"]
    assert len(chat.videos) == 1, chat.texts  # the user really got the video
    after = await rig.metrics()
    assert _value(after, "aiwm_jobs_finished_total", outcome="delivered") == \
        _value(before, "aiwm_jobs_finished_total", outcome="delivered") + 1
    assert _value(after, "aiwm_job_duration_seconds_count", outcome="delivered") == \
        _value(before, "aiwm_job_duration_seconds_count", outcome="delivered") + 1
    assert _value(after, "aiwm_turn_duration_seconds_count") == _value(before, "aiwm_turn_duration_seconds_count") + 1
    assert _value(after, "aiwm_turn_duration_seconds_sum") > _value(before, "aiwm_turn_duration_seconds_sum")
    assert _value(after, "aiwm_messages_total", surface="test") == _value(before, "aiwm_messages_total", surface="test") + 1
    # Read from this bot's own store at scrape time: exactly the one job, delivered.
    assert _value(after, "aiwm_jobs", state="delivered") == 1
    assert _value(after, "aiwm_jobs", state="rendering") == 0
    assert ("aiwm_jobs", (("state", "failed"),)) in after  # every state is reported, zeros too
    assert _value(after, "aiwm_active_chats") == 0  # the chat's work is done


async def test_a_refused_turn_counts_in_backend_errors_by_code(rig: OpsRig, clip: Path) -> None:
    await rig.say("dm1", "/upload", [clip], command="upload")
    before = await rig.metrics()

    await rig.faults({"no_credits": True})
    await rig.say("dm1", "add some cinematic music")

    texts = rig.surface.chats["dm1"].texts
    assert "out of" in texts[-1].lower() and "credits" in texts[-1].lower(), texts
    after = await rig.metrics()
    assert _value(after, "aiwm_backend_errors_total", code="2001") > _value(before, "aiwm_backend_errors_total",
                                                                             code="2001")


async def test_a_failed_render_counts_as_a_failed_job(rig: OpsRig, clip: Path) -> None:
    await rig.say("dm1", "/upload", [clip], command="upload")
    before = await rig.metrics()

    await rig.faults({"render_fail": "the renderer fell over"})
    await rig.say("dm1", "export")

    assert not rig.surface.chats["dm1"].videos
    after = await rig.metrics()
    assert _value(after, "aiwm_jobs_finished_total", outcome="failed") == \
        _value(before, "aiwm_jobs_finished_total", outcome="failed") + 1
    assert _value(after, "aiwm_jobs", state="failed") == 1
    assert _value(after, "aiwm_jobs", state="delivered") == 0


async def test_rate_limits_count_under_429(rig: OpsRig, clip: Path) -> None:
    await rig.say("dm1", "/upload", [clip], command="upload")
    before = await rig.metrics()

    # Two 429s in a row: the client waits out the first, the second reaches the chat.
    await rig.faults({"rate_limit": {"times": 2, "retry_after": 0}})
    await rig.say("dm1", "add some cinematic music")

    assert rig.surface.chats["dm1"].texts[-1] == say("rate_limited", "en"), rig.surface.chats["dm1"].texts
    after = await rig.metrics()
    assert _value(after, "aiwm_backend_errors_total", code="429") == \
        _value(before, "aiwm_backend_errors_total", code="429") + 2


async def test_metrics_is_prometheus_text(rig: OpsRig) -> None:
    async with rig.http.get(rig.ops.url + "/metrics") as response:
        assert response.status == 200
        # Prometheus refuses a scrape without a text/plain (or OpenMetrics) content type.
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        names = {family.name for family in text_string_to_metric_families(await response.text())}
    assert {"aiwm_jobs_finished", "aiwm_turn_duration_seconds", "aiwm_backend_errors", "aiwm_jobs",
            "aiwm_active_chats", "aiwm_platform_retries", "aiwm_refusals", "aiwm_messages"} <= names


def test_the_ops_port_is_off_unless_set(monkeypatch) -> None:
    monkeypatch.delenv("AIWM_OPS_PORT", raising=False)
    assert Settings(_env_file=None).aiwm_ops_port is None
    assert OpsServer.from_settings(Settings(_env_file=None), core=None) is None
    monkeypatch.setenv("AIWM_OPS_PORT", "")
    assert Settings(_env_file=None).aiwm_ops_port is None
    monkeypatch.setenv("AIWM_OPS_PORT", "0")
    assert Settings(_env_file=None).aiwm_ops_port == 0


# --- the shipped bot ---------------------------------------------------------------------------


async def test_aiwm_run_serves_the_ops_endpoints_and_writes_json_logs(tmp_path: Path) -> None:
    """`aiwm run` (Telegram against the fake Bot API, the real backend) with AIWM_OPS_PORT set:
    /healthz is 200 once it serves, /metrics counts the delivered clip, SIGTERM exits 0, and with
    AIWM_LOG_FORMAT=json every line it logged is one JSON object without the bot token."""
    from tests.faults.backendproc import free_port
    from tests.faults.botproc import HoldingBotApi, Rig as BotRig
    from tests.telegram.fake_bot_api import TOKEN

    fake = HoldingBotApi(tmp_path / "fake")
    await fake.start()
    backend = LocalBackend(BackendConfig(data_dir=tmp_path / "backend", test_mode=True, heartbeat_interval=0.2))
    await backend.start()
    (tmp_path / "run").mkdir()
    bots = BotRig(fake, backend.url, tmp_path / "bot-data", tmp_path / "run")
    clip = make_clip(tmp_path / "tiny.mp4", duration=1.0, size=(160, 120))
    port = free_port()
    ops = f"http://127.0.0.1:{port}"
    try:
        bot = await bots.start_bot(AIWM_OPS_PORT=str(port), AIWM_LOG_FORMAT="json", AIWM_LOG_LEVEL="DEBUG")
        health: dict = {}

        async def healthy() -> None:
            while True:  # the surfaces start right after the first poll; then /healthz turns 200
                async with bots.http.get(ops + "/healthz") as response:
                    if response.status == 200:
                        health.update(await response.json())
                        return
                await asyncio.sleep(0.05)

        await asyncio.wait_for(healthy(), WAIT)
        assert health["backend"] == "ok" and health["surfaces"] == {"telegram": "ok"}, health

        bots.send_clip(501, clip)
        await bots.wait_chat(lambda: bots.videos(501))
        async with bots.http.get(ops + "/metrics") as response:
            text = await response.text()
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                   for family in text_string_to_metric_families(text) for s in family.samples}
        assert _value(samples, "aiwm_messages_total", surface="telegram") >= 1
        assert _value(samples, "aiwm_turn_duration_seconds_count") == 1
        # The upload is answered before the job is marked delivered: wait for the store to say so.
        for _ in range(int(WAIT / 0.1)):
            if _value(samples, "aiwm_jobs", state="delivered") == 1:
                break
            await asyncio.sleep(0.1)
            async with bots.http.get(ops + "/metrics") as response:
                samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                           for family in text_string_to_metric_families(await response.text()) for s in family.samples}
        assert _value(samples, "aiwm_jobs", state="delivered") == 1
        assert _value(samples, "aiwm_jobs_finished_total", outcome="delivered") == 1

        bot.terminate()
        assert await bot.exit_code(timeout=WAIT) == 0, bot.log_tail()
    finally:
        await bots.close()
        await backend.stop()
        await fake.stop()

    lines = bot.log_path.read_text().splitlines()
    assert len(lines) > 5
    records = []
    for line in lines:
        record = json.loads(line)  # every line, tracebacks included, is one JSON object
        assert isinstance(record, dict) and {"time", "level", "logger", "message"} <= set(record), line
        records.append(record)
    assert any(r["logger"] == "bots.ops_server" for r in records)  # it said where /healthz is
    assert TOKEN not in "\n".join(lines)
    assert TOKEN.split(":", 1)[1] not in "\n".join(lines)


async def test_a_taken_ops_port_is_one_plain_error(rig: OpsRig) -> None:
    taken = OpsServer(rig.core, port=rig.ops.port, registry=CollectorRegistry())
    with pytest.raises(RuntimeError, match=f"ops endpoints on 127.0.0.1:{rig.ops.port}"):
        await taken.start()
    status, _body = await rig.health()
    assert status == 200  # the running server is untouched


# --- how jobs end ------------------------------------------------------------------------------


async def _job_in_store(rig: OpsRig, state: str) -> None:
    for _ in range(int(WAIT / 0.05)):
        async with rig.store.db.execute("SELECT COUNT(*) FROM jobs WHERE state = ?", (state,)) as cursor:
            if (await cursor.fetchone())[0]:
                return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no job reached {state}")


async def test_a_cancelled_export_counts_as_cancelled(rig: OpsRig, clip: Path) -> None:
    await rig.say("dm1", "/upload", [clip], command="upload")
    before = await rig.metrics()
    await rig.faults({"render_delay": 600})

    await rig.core.handle(rig.surface.event("dm1", "export"))  # not drained: it renders for long
    await _job_in_store(rig, "rendering")
    await rig.say("dm1", "/cancel", command="cancel")

    after = await rig.metrics()
    assert rig.surface.chats["dm1"].texts[-1] == say("cancelled", "en")
    assert _value(after, "aiwm_jobs_finished_total", outcome="cancelled") == \
        _value(before, "aiwm_jobs_finished_total", outcome="cancelled") + 1
    assert _value(after, "aiwm_jobs", state="failed") == 1 and _value(after, "aiwm_jobs", state="rendering") == 0


async def test_an_export_cut_by_the_time_limit_counts_as_timeout(rig: OpsRig, clip: Path) -> None:
    await rig.say("dm1", "/upload", [clip], command="upload")
    before = await rig.metrics()
    await rig.faults({"render_delay": 600})
    # The hard limit per queued item, lowered for this export (Core reads it when the item starts).
    rig.core.config = replace(rig.core.config, item_timeout=8.0)

    await rig.say("dm1", "export")

    after = await rig.metrics()
    assert rig.surface.chats["dm1"].texts[-1] == say("timeout", "en")
    assert _value(after, "aiwm_jobs_finished_total", outcome="timeout") == \
        _value(before, "aiwm_jobs_finished_total", outcome="timeout") + 1
    assert _value(after, "aiwm_jobs_finished_total", outcome="cancelled") == \
        _value(before, "aiwm_jobs_finished_total", outcome="cancelled")


async def test_an_upload_cut_by_a_restart_counts_as_resend(rig: OpsRig) -> None:
    """A job left "sending" (the bot died during the upload to the chat) is not sent twice: the
    restarted core asks the chat to resend, and the job ends as "resend"."""
    chat = rig.surface.event("dm7")
    await rig.store.add_job(Job(id="cut-upload", chat_key=chat.chat_key, surface="test", chat_id="dm7",
                                delivery={"chat": "dm7"}, language="en", state=SENDING))
    before = await rig.metrics()

    restarted = Core(CoreConfig(data_dir=rig.root / "bot"), rig.client, rig.store, {"test": rig.surface})
    await restarted.start()
    assert await restarted.drain(WAIT)
    await restarted.stop()

    after = await rig.metrics()
    assert rig.surface.chats["dm7"].texts == [say("resend_after_restart", "en")]
    assert _value(after, "aiwm_jobs_finished_total", outcome="resend") == \
        _value(before, "aiwm_jobs_finished_total", outcome="resend") + 1
    assert _value(after, "aiwm_jobs", state="failed") == 1 and _value(after, "aiwm_jobs", state="sending") == 0


async def test_a_video_too_big_for_the_chat_counts_as_too_big(rig: OpsRig, clip: Path) -> None:
    before = await rig.metrics()
    rig.surface.limits = SurfaceLimits(max_upload_bytes=2_000)  # no video fits: the chat gets a link

    await rig.say("dm9", clips=[clip])

    chat = rig.surface.chats["dm9"]
    assert not chat.videos and any("http" in text for text in chat.texts), chat.texts
    after = await rig.metrics()
    assert _value(after, "aiwm_jobs_finished_total", outcome="too_big") == \
        _value(before, "aiwm_jobs_finished_total", outcome="too_big") + 1
    assert _value(after, "aiwm_jobs_finished_total", outcome="delivered") == \
        _value(before, "aiwm_jobs_finished_total", outcome="delivered")
    assert _value(after, "aiwm_jobs", state="delivered") == 1  # the link was the delivery


async def test_the_backend_check_is_cached_so_probes_never_hammer_it(rig: OpsRig) -> None:
    cached = OpsServer(rig.core, port=0, backend_check_interval=3600, registry=CollectorRegistry())
    await cached.start()
    cached.serving()
    try:
        requests_before = len(await _backend_requests(rig))
        async with rig.http.get(cached.url + "/healthz") as response:
            assert response.status == 200
        # The check is a bare TCP connect: no request reaches the backend, no credits are spent.
        assert len(await _backend_requests(rig)) == requests_before
        await rig.backend.stop()
        for _ in range(5):  # within the interval the last answer stands, whatever the backend does
            async with rig.http.get(cached.url + "/healthz") as response:
                assert response.status == 200 and (await response.json())["backend"] == "ok"
    finally:
        await cached.stop()


async def _backend_requests(rig: OpsRig) -> list[dict]:
    async with rig.http.get(f"{rig.backend.url}/_test/requests") as response:
        data = await response.json()
    return data.get("requests", data) if isinstance(data, dict) else data
