"""The operator's window into a running bot: `GET /healthz` and `GET /metrics` on a port of its own.

/healthz answers 200 with a small JSON while the bot is serving and the backend can be reached,
503 while it starts or stops or when the backend is down (so a container orchestrator or a
load balancer stops trusting it). The backend check is a TCP connect with a short timeout,
cached for a few seconds and shared by concurrent probes, so probes never hammer the backend
and never spend credits. Nothing here prints a URL, a token or a chat id.

/metrics is the Prometheus text of `core.metrics.REGISTRY` plus `aiwm_jobs{state}`, the jobs in
the store by state, counted from the store just before each scrape (the store is async; a
prometheus collector runs synchronously, so the handler refreshes the counts first).

Off unless AIWM_OPS_PORT is set (0 = any free port, for tests). Binds AIWM_OPS_HOST, loopback by
default: the endpoints have no authentication, so expose them only to a trusted network.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Iterable
from urllib.parse import urlsplit

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from core.metrics import REGISTRY
from core.store import DELIVERED, FAILED, RENDERING, SENDING

log = logging.getLogger(__name__)

JOB_STATES = (RENDERING, SENDING, DELIVERED, FAILED)

STARTING, SERVING, STOPPING = "starting", "serving", "stopping"


class JobStateCollector(Collector):
    """`aiwm_jobs{state}`: jobs in the store by state, as of the last `refresh`."""

    def __init__(self, store) -> None:
        self._store = store
        self._counts: dict[str, int] | None = None  # None: never read, or the store is closed

    async def refresh(self) -> None:
        try:
            async with self._store.db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state") as cursor:
                rows = await cursor.fetchall()
        except Exception as error:  # closed at shutdown, or locked: report nothing rather than stale numbers
            log.warning("could not count jobs for /metrics: %s", type(error).__name__)
            self._counts = None
            return
        counts = dict.fromkeys(JOB_STATES, 0)
        counts.update({str(state): int(count) for state, count in rows})
        self._counts = counts

    def collect(self) -> Iterable[GaugeMetricFamily]:
        if self._counts is None:
            return []
        family = GaugeMetricFamily("aiwm_jobs", "Export jobs in the store, by state", labels=["state"])
        for state, count in sorted(self._counts.items()):
            family.add_metric([state], count)
        return [family]

    def describe(self) -> Iterable[GaugeMetricFamily]:
        # Registering must not call collect() (the counts are read asynchronously).
        return [GaugeMetricFamily("aiwm_jobs", "Export jobs in the store, by state", labels=["state"])]


class BackendProbe:
    """Is the backend reachable? A TCP connect, cached for `interval` s, one probe at a time."""

    def __init__(self, base_url: str, *, interval: float = 10.0, timeout: float = 2.0) -> None:
        parts = urlsplit(base_url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._interval = interval
        self._timeout = timeout
        self._checked_at: float | None = None
        self._up = False
        self._lock = asyncio.Lock()

    async def up(self) -> bool:
        async with self._lock:
            now = time.monotonic()
            if self._checked_at is None or now - self._checked_at >= self._interval:
                self._up = await self._connect()
                self._checked_at = time.monotonic()
            return self._up

    async def _connect(self) -> bool:
        try:
            async with asyncio.timeout(self._timeout):
                _reader, writer = await asyncio.open_connection(self._host, self._port)
        except (OSError, TimeoutError):
            return False
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass
        return True


class OpsServer:
    """/healthz and /metrics for one core. `start()`, then `serving()` once the surfaces run,
    `stopping()` when a stop signal comes, `stop()` last."""

    def __init__(self, core, *, host: str = "127.0.0.1", port: int = 0,
                 registry: CollectorRegistry = REGISTRY, backend_check_interval: float = 10.0,
                 backend_timeout: float = 2.0) -> None:
        self.core = core
        self.host = host
        self.port = port
        self._registry = registry
        self._jobs = JobStateCollector(core.store)
        self._probe = BackendProbe(core.client.base_url, interval=backend_check_interval, timeout=backend_timeout)
        self._phase = STARTING
        self._serving_since: float | None = None
        self._runner: web.AppRunner | None = None

    @classmethod
    def from_settings(cls, settings, core) -> "OpsServer | None":
        """The server the operator asked for, or None when AIWM_OPS_PORT is unset."""
        if settings.aiwm_ops_port is None:
            return None
        return cls(core, host=settings.aiwm_ops_host, port=settings.aiwm_ops_port)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> "OpsServer":
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)  # probes every few seconds would flood the log
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError as error:  # one plain line for the operator instead of a socket traceback
            await self._runner.cleanup()
            self._runner = None
            raise RuntimeError(f"cannot serve the ops endpoints on {self.host}:{self.port} "
                               f"(AIWM_OPS_HOST/AIWM_OPS_PORT): {error.strerror or error}") from None
        if self._runner.addresses:  # the real port when 0 was asked for
            self.port = self._runner.addresses[0][1]
        self._registry.register(self._jobs)
        log.info("ops endpoints (/healthz, /metrics) on %s:%s", self.host, self.port)
        return self

    def serving(self) -> None:
        self._phase = SERVING
        self._serving_since = time.monotonic()

    def stopping(self) -> None:
        self._phase = STOPPING

    async def stop(self) -> None:
        self._phase = STOPPING
        if self._runner is not None:
            try:
                self._registry.unregister(self._jobs)
            except KeyError:
                pass
            await self._runner.cleanup()
            self._runner = None

    # --- handlers ----------------------------------------------------------------------------

    async def health(self) -> tuple[bool, dict[str, Any]]:
        backend_up = await self._probe.up()
        surfaces = {name: _surface_state(surface) for name, surface in sorted(self.core.surfaces.items())}
        healthy = self._phase == SERVING and backend_up and all(s == "ok" for s in surfaces.values())
        body: dict[str, Any] = {
            "status": "ok" if healthy else (self._phase if self._phase != SERVING else "degraded"),
            "backend": "ok" if backend_up else "down",
            "surfaces": surfaces,
            "uptime_s": round(time.monotonic() - self._serving_since, 1) if self._serving_since else 0.0,
        }
        return healthy, body

    async def _healthz(self, request: web.Request) -> web.Response:
        healthy, body = await self.health()
        return web.json_response(body, status=200 if healthy else 503, headers={"Cache-Control": "no-store"})

    async def _metrics(self, request: web.Request) -> web.Response:
        await self._jobs.refresh()
        payload = generate_latest(self._registry)
        return web.Response(body=payload, headers={"Content-Type": CONTENT_TYPE_LATEST})


def _surface_state(surface) -> str:
    """ "ok", or "down" when the surface says it is not running (surfaces without a flag count as ok)."""
    for attribute in ("running", "_running"):
        value = getattr(surface, attribute, None)
        if isinstance(value, bool):
            return "ok" if value else "down"
    return "ok"
