"""The Nemo API client: the only way the bot talks to a backend (cloud or the local one).

Wire format: docs/nemo-api.md. Rules this module keeps:
- every call carries `Authorization: Bearer` and the three `X-Skill-*` attribution headers;
- a chat message is exactly one `POST /run_sse`; it is never re-sent once a stream started (a
  broken stream ends the turn with reason "cut"). Only a refusal before any stream (an auth error
  answered with a new token, or 429) is sent again, once: the backend did not run it;
- no total timeout on a turn; a watchdog ends it after `turn_limit` seconds, or after
  `heartbeat_only_limit` seconds without anything but heartbeats;
- uploads and downloads are streamed from and to disk;
- the token never reaches a log line or an exception text.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json as jsonlib
import mimetypes
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp

from core.metrics import BACKEND_ERRORS
from core.nemo import auth
from core.nemo.errors import (
    AuthRejected,
    BackendUnavailable,
    NemoError,
    NoCredits,
    RateLimited,
    RenderFailed,
    SessionNotFound,
    TokenExpired,
    TokenInvalid,
    error_from_response,
    retry_after_of,
)
from core.nemo.events import Heartbeat, StreamError, TurnDecoder, TurnEnded, TurnEvent
from core.nemo.render_status import DONE, FAILED, read_poll
from core.nemo.sse import SSEParser

log = logging.getLogger(__name__)

APP_NAME = "nemo_agent"
SKILL_SOURCE = "ai-with-music"
DEFAULT_WEB_URL = "https://nemovideo.com"
CHUNK = 256 * 1024

Callback = Callable[..., Awaitable[None] | None]


@dataclass(frozen=True)
class SessionInfo:
    session_id: str
    task_id: str | None = None
    user_id: str | None = None


@dataclass(frozen=True)
class Credits:
    available: float
    frozen: float = 0
    total: float | None = None
    raw: dict = field(default_factory=dict)


@dataclass(frozen=True)
class RenderResult:
    render_id: str
    output_url: str | None


class NemoClient:
    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        credentials: Any | None = None,
        web_url: str | None = None,
        session: aiohttp.ClientSession | None = None,
        client_id: str | None = None,
        skill_source: str = SKILL_SOURCE,
        skill_version: str | None = None,
        platform: str = "unknown",
        turn_limit: float = 900.0,
        heartbeat_only_limit: float = 600.0,
        render_poll_interval: float = 10.0,
        render_timeout: float = 1800.0,
        max_retry_wait: float = 120.0,
        connect_timeout: float = 10.0,
        read_timeout: float = 300.0,
        max_connections: int = 0,
        get_retries: int = 2,
        retry_backoff: float = 0.5,
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.web_url = (web_url or DEFAULT_WEB_URL).rstrip("/")
        self._fixed_token = token or None
        self._creds = auth.Credentials(credentials)
        self._client_id = client_id
        self._skill = {
            "X-Skill-Source": skill_source,
            "X-Skill-Version": skill_version or _package_version(),
            "X-Skill-Platform": platform,
        }
        self.turn_limit = turn_limit
        self.heartbeat_only_limit = heartbeat_only_limit
        self.render_poll_interval = render_poll_interval
        self.render_timeout = render_timeout
        self.max_retry_wait = max_retry_wait
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        # aiohttp caps a session at 100 connections by default: with one open turn stream per chat
        # that would queue the 101st chat's turn behind the others. 0 = no cap (each chat's lane
        # keeps at most one request in flight, so the chats themselves bound it).
        self._max_connections = max_connections
        self.get_retries = get_retries  # extra tries for a GET that met a network error or a 5xx
        self.retry_backoff = retry_backoff  # first wait between tries; doubles each time
        self._session = session
        self._own_session = session is None
        self._token: str | None = None
        self._token_lock = asyncio.Lock()

    # --- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> "NemoClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
        self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # No total timeout (turns and renders are long); each request sets its own limits.
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None),
                                                  connector=aiohttp.TCPConnector(limit=self._max_connections))
            self._own_session = True
        return self._session

    def _timeout(self, read: float | None = None) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(total=None, sock_connect=self._connect_timeout,
                                     sock_read=self._read_timeout if read is None else read)

    def url(self, path: str) -> str:
        return urljoin(self.base_url, path.lstrip("/"))

    # --- auth --------------------------------------------------------------------------------

    @property
    def anonymous(self) -> bool:
        return self._fixed_token is None

    async def client_id(self) -> str:
        """The stable X-Client-Id: given, persisted, or made once and persisted."""
        if self._client_id:
            return self._client_id
        stored = await self._creds.get(auth.CLIENT_ID)
        if not stored:
            stored = str(uuid.uuid4())
            await self._creds.set(auth.CLIENT_ID, stored)
        self._client_id = stored
        return stored

    async def _current_token(self) -> str:
        if self._fixed_token:
            return self._fixed_token
        if self._token:
            return self._token
        async with self._token_lock:
            if self._token:
                return self._token
            stored = await self._creds.get(auth.TOKEN)
            if stored and not _expired(await self._creds.get(auth.TOKEN_EXPIRES)):
                self._token = stored
                return stored
            return await self._fetch_token()

    async def _renew_token(self, stale: str) -> None:
        """Get a new anonymous token, unless another call already replaced the stale one."""
        async with self._token_lock:
            if self._token and self._token != stale:
                return
            self._token = None
            await self._creds.set(auth.TOKEN, None)
            await self._fetch_token()

    def _operator_token_refused(self, error: NemoError, where: str) -> AuthRejected:
        """The fixed token was refused: only the operator can fix that, so say so loudly, once."""
        log.error("the backend refused the configured NEMO_TOKEN on %s (code %s): the operator must "
                  "renew it; every call fails until then", where, error.code)
        return AuthRejected(code=error.code, detail=error.detail)

    async def _fetch_token(self) -> str:
        headers = {**self._skill, "X-Client-Id": await self.client_id()}
        body = await self._send("POST", "/api/auth/anonymous-token", headers=headers)
        data = _unwrap(body)
        token = data.get("token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise BackendUnavailable(detail="the anonymous-token answer had no token")
        self._token = token
        await self._creds.set(auth.TOKEN, token)
        if data.get("user_id"):
            await self._creds.set(auth.USER_ID, str(data["user_id"]))
        await self._creds.set(auth.TOKEN_EXPIRES, str(data["expires_at"]) if data.get("expires_at") else None)
        log.info("got an anonymous backend token")
        return token

    async def _headers(self, extra: dict | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self._current_token()}", **self._skill, **(extra or {})}

    async def register_url(self) -> str | None:
        """Where an anonymous user registers to get credits (nemo-api.md §4)."""
        user_id = await self._creds.get(auth.USER_ID)
        return f"{self.web_url}/register?bind={user_id}" if user_id and self.anonymous else None

    # --- the request core ----------------------------------------------------------------------

    async def _send(self, method: str, path: str, *, headers: dict, json: Any = None,
                    data: Any = None, timeout: aiohttp.ClientTimeout | None = None) -> Any:
        """One HTTP exchange; returns the parsed body or raises the mapped NemoError."""
        try:
            async with self._http().request(method, self.url(path), headers=headers, json=json, data=data,
                                            timeout=timeout or self._timeout()) as resp:
                body = await _read_body(resp)
                status, resp_headers = resp.status, resp.headers
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            log.warning("%s %s failed: %s", method, path, type(exc).__name__)
            raise counted(_unavailable(exc)) from None
        error = error_from_response(status, body, resp_headers)
        if status >= 500 and not isinstance(error, BackendUnavailable):
            # A 5xx is a server fault whatever its body says (an envelope code 500 included).
            error = BackendUnavailable(None, code=status, detail=getattr(error, "detail", None))
        if error is not None:
            log.info("%s %s -> HTTP %s, code %s", method, path, status, error.code)
            raise counted(error)
        return body

    async def _call(self, method: str, path: str, *, json: Any = None,
                    data: Callable[[], Any] | None = None, timeout: aiohttp.ClientTimeout | None = None,
                    extra_headers: dict | None = None) -> Any:
        """An authenticated call: renews the token once on an auth error, waits out one 429."""
        renewed = waited = False
        tries = 0
        while True:
            headers = await self._headers(extra_headers)
            try:
                return await self._send(method, path, headers=headers, json=json,
                                        data=data() if data else None, timeout=timeout)
            except BackendUnavailable:
                # A GET changes nothing, so a network error or a 5xx is simply asked again (with
                # backoff); anything else could act twice and is left to the caller.
                if method != "GET" or tries >= self.get_retries:
                    raise
                await asyncio.sleep(min(self.max_retry_wait, self.retry_backoff * 2 ** tries))
                tries += 1
            except (TokenExpired, TokenInvalid) as refused:
                if not self.anonymous:
                    raise self._operator_token_refused(refused, path) from None
                if renewed:
                    raise
                renewed = True
                await self._renew_token(headers["Authorization"][7:])
            except RateLimited as limited:
                if waited or limited.retry_after > self.max_retry_wait:
                    raise
                waited = True
                log.info("rate limited on %s; retrying once in %.0f s", path, limited.retry_after)
                await asyncio.sleep(limited.retry_after)
            except NoCredits as no_credits:
                if no_credits.register_url:
                    raise
                raise NoCredits(detail=no_credits.detail, register_url=await self.register_url()) from None

    # --- sessions, uploads, state, credits ---------------------------------------------------

    async def create_session(self, language: str | None = None) -> str:
        return (await self.create_session_info(language)).session_id

    async def create_session_info(self, language: str | None = None) -> SessionInfo:
        body: dict[str, Any] = {"task_name": "project"}
        if language:
            body["language"] = language
        data = _unwrap(await self._call("POST", f"/api/tasks/me/with-session/{APP_NAME}", json=body))
        if not isinstance(data, dict) or not data.get("session_id"):
            raise BackendUnavailable(detail="the session answer had no session_id")
        return SessionInfo(str(data["session_id"]), _opt_str(data.get("task_id")), _opt_str(data.get("user_id")))

    async def upload_files(self, session_id: str, paths: Iterable[str | Path]) -> list[dict]:
        """Upload files as repeated multipart `files` fields, each streamed from disk."""
        paths = [Path(p) for p in paths]
        for path in paths:
            if not path.is_file():
                raise FileNotFoundError(path)

        opened: list = []

        def form() -> aiohttp.FormData:
            # Rebuilt for every attempt; aiohttp reads each open file in small chunks as it sends.
            for handle in opened:
                handle.close()
            opened.clear()
            data = aiohttp.FormData(quote_fields=False)
            for path in paths:
                handle = path.open("rb")
                opened.append(handle)
                data.add_field("files", handle, filename=path.name, content_type=_content_type(path))
            return data

        try:
            body = await self._call("POST", f"/api/upload-video/{APP_NAME}/me/{session_id}", data=form,
                                    timeout=self._timeout(read=max(self._read_timeout, 600)))
        finally:
            for handle in opened:
                handle.close()
        return _files_of(body)

    async def upload_url(self, session_id: str, url: str) -> list[dict]:
        body = await self._call("POST", f"/api/upload-video/{APP_NAME}/me/{session_id}",
                                json={"urls": [url], "source_type": "url"})
        return _files_of(body)

    async def get_state(self, session_id: str) -> dict:
        data = _unwrap(await self._call("GET", f"/api/state/{APP_NAME}/me/{session_id}/latest"))
        return data if isinstance(data, dict) else {}

    async def credits(self) -> Credits:
        data = _unwrap(await self._call("GET", "/api/credits/balance/simple"))
        data = data if isinstance(data, dict) else {}
        available = _number(data.get("available"))
        frozen = _number(data.get("frozen"))
        total = data.get("total")
        return Credits(available, frozen, _number(total) if total is not None else available + frozen, data)

    # --- one chat turn -------------------------------------------------------------------------

    async def run_turn(self, session_id: str, text: str, *,
                       cancel: asyncio.Event | None = None) -> AsyncIterator[TurnEvent]:
        """One message, one POST: yields turn events and always ends with one TurnEnded.

        Raises a NemoError only when the backend refused the message before streaming
        (e.g. SessionNotFound, ValidationFailed, NoCredits). Setting `cancel` ends the turn with
        reason "cancelled" (the connection is closed; nothing is re-sent).
        """
        body = {"app_name": APP_NAME, "user_id": "me", "session_id": session_id,
                "new_message": {"role": "user", "parts": [{"text": text}]}}
        resp = await self._open_stream(body)
        decoder = TurnDecoder()
        parser = SSEParser()
        start = last_news = time.monotonic()
        cancel_wait = asyncio.ensure_future((cancel or asyncio.Event()).wait())
        reason = "done"
        read: asyncio.Future | None = None
        try:
            while True:
                now = time.monotonic()
                remaining = min(start + self.turn_limit, last_news + self.heartbeat_only_limit) - now
                if remaining <= 0:
                    reason = "watchdog"
                    break
                read = asyncio.ensure_future(resp.content.readany())
                done, _ = await asyncio.wait({read, cancel_wait}, timeout=remaining,
                                             return_when=asyncio.FIRST_COMPLETED)
                if read not in done:
                    read.cancel()
                    with contextlib.suppress(BaseException):
                        await read
                    reason = "cancelled" if cancel_wait in done else "watchdog"
                    break
                try:
                    chunk = read.result()
                except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                    log.warning("turn stream broke: %s", type(exc).__name__)
                    reason = "cut"
                    break
                if not chunk:
                    break  # the backend closed the stream: the turn is over
                ended = False
                for item in parser.feed(chunk):
                    for event in decoder.decode(item):
                        if not isinstance(event, Heartbeat):
                            last_news = time.monotonic()
                        yield event
                        ended = ended or isinstance(event, StreamError)
                if ended:
                    break  # ADK closes after the error frame; do not wait for it
        finally:
            cancel_wait.cancel()
            if read is not None and not read.done():
                read.cancel()  # cancelled mid-read: closing the stream would fail it unobserved
            resp.close()
        if reason == "watchdog":
            log.warning("turn watchdog fired after %.0f s", time.monotonic() - start)
        yield decoder.finish(reason)

    async def _open_stream(self, body: dict) -> aiohttp.ClientResponse:
        """POST /run_sse; returns the open streaming response or raises the refusal."""
        renewed = waited = False
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self._connect_timeout, sock_read=None)
        while True:
            headers = await self._headers({"Accept": "text/event-stream", "Cache-Control": "no-cache"})
            try:
                resp = await self._http().post(self.url("/run_sse"), json=body, headers=headers, timeout=timeout)
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                log.warning("POST /run_sse failed: %s", type(exc).__name__)
                raise counted(_unavailable(exc)) from None
            if resp.status == 200 and "text/event-stream" in resp.headers.get("Content-Type", "text/event-stream"):
                return resp
            try:
                parsed = await _read_body(resp)
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
                parsed = None
            finally:
                resp.release()
            error = error_from_response(resp.status, parsed, resp.headers) or NemoError(
                detail="the chat endpoint did not answer with an event stream")
            log.info("POST /run_sse refused: HTTP %s, code %s", resp.status, error.code)
            counted(error)
            if isinstance(error, (TokenExpired, TokenInvalid)) and not self.anonymous:
                raise self._operator_token_refused(error, "/run_sse")
            if isinstance(error, (TokenExpired, TokenInvalid)) and not renewed:
                renewed = True
                await self._renew_token(headers["Authorization"][7:])
                continue
            if isinstance(error, RateLimited) and not waited and error.retry_after <= self.max_retry_wait:
                waited = True
                await asyncio.sleep(error.retry_after)
                continue
            if isinstance(error, NoCredits) and not error.register_url:
                raise NoCredits(detail=error.detail, register_url=await self.register_url())
            raise error

    # --- export ------------------------------------------------------------------------------

    async def render(self, session_id: str, draft: dict, *, on_progress: Callback | None = None,
                     on_submitted: Callback | None = None) -> RenderResult:
        """Submit a render with a fresh id and poll it to the end; a failed render is retried once."""
        last_error: str | None = None
        for attempt in range(2):
            render_id = f"render_{int(time.time() * 1000)}_{uuid.uuid4().hex[:6]}"
            try:
                await self._call("POST", "/api/render/proxy/lambda", json={
                    "id": render_id, "sessionId": session_id, "draft": draft,
                    "output": {"format": "mp4", "quality": "high"}})
            except BackendUnavailable as exc:
                last_error = exc.detail
                log.warning("render submit failed (attempt %d)", attempt + 1)
                continue
            except NemoError as exc:
                if type(exc) is not NemoError:  # a typed refusal (402, 2001, 422...) is final
                    raise
                last_error = exc.detail  # success:false
                continue
            await _maybe_await(on_submitted, render_id)
            outcome = await self.wait_render(render_id, on_progress=on_progress)
            if isinstance(outcome, RenderResult):
                return outcome
            last_error = outcome
            log.warning("render %s failed (attempt %d)", render_id, attempt + 1)
        raise RenderFailed(last_error or None)

    async def wait_render(self, render_id: str, *, on_progress: Callback | None = None) -> RenderResult | str:
        """Poll one render until it ends: a RenderResult, or the failure text.

        Keeps polling through network errors and 5xx; a 404 counts as a failed render.
        Also used to resume a render after a restart.
        """
        deadline = time.monotonic() + self.render_timeout
        percent_seen = False
        shown: float | None = None
        misses = 0
        while time.monotonic() < deadline:
            try:
                body = await self._call("GET", f"/api/render/proxy/lambda/{render_id}")
            except BackendUnavailable:
                # Down or restarting: keep asking, less and less often (at most once a minute).
                misses += 1
                pause = min(max(self.render_poll_interval, 60.0), self.render_poll_interval * 2 ** min(misses, 10))
                log.info("render %s: backend unavailable (miss %d); polling again in %.1f s", render_id, misses, pause)
                await asyncio.sleep(max(0.0, min(pause, deadline - time.monotonic())))
                continue
            except SessionNotFound:
                return "the render was not found"
            misses = 0
            poll = read_poll(body, percent_seen)
            percent_seen = percent_seen or poll.percent_scale
            if poll.progress is not None and (shown is None or poll.progress > shown):
                shown = poll.progress
                await _maybe_await(on_progress, shown)
            if poll.status == DONE:
                if shown != 1.0:
                    await _maybe_await(on_progress, 1.0)
                return RenderResult(render_id, poll.output_url)
            if poll.status == FAILED:
                return poll.error or "the render failed"
            await asyncio.sleep(self.render_poll_interval)
        return "the render took too long"

    async def cancel_render(self, render_id: str) -> bool:
        """Ask the backend to stop a render; False when it does not know the render."""
        try:
            await self._call("POST", f"/api/render/proxy/lambda/{render_id}/cancel")
        except SessionNotFound:
            return False
        return True

    async def download(self, source: RenderResult | str, dest: Path, *,
                       on_progress: Callback | None = None) -> Path:
        """Stream a file to `dest` (via `dest.part`, renamed when complete).

        A RenderResult without a reachable URL falls back to the backend's authenticated
        `/api/render/proxy/<id>/download`. Auth headers go only to the backend's own host.
        """
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        urls: list[str] = []
        if isinstance(source, RenderResult):
            if source.output_url:
                urls.append(source.output_url)
            urls.append(self.url(f"/api/render/proxy/{source.render_id}/download"))
        else:
            urls.append(str(source))
        last: NemoError | None = None
        for url in urls:
            try:
                await self._download_one(url, dest, on_progress)
                return dest
            except (BackendUnavailable, SessionNotFound) as exc:
                last = exc
                log.warning("download from %s failed; %s", _host(url), "trying the fallback" if url != urls[-1] else "giving up")
        assert last is not None
        raise last

    download_render = download  # the name the conversation draft uses

    async def _download_one(self, url: str, dest: Path, on_progress: Callback | None) -> None:
        own_host = _host(url) == _host(self.base_url)
        part = dest.with_name(dest.name + ".part")
        renewed = waited = False
        while True:
            headers = await self._headers() if own_host else {}
            try:
                async with self._http().get(url, headers=headers, timeout=self._timeout()) as resp:
                    if resp.status >= 300:
                        body = await _read_body(resp)
                        raise counted(error_from_response(resp.status, body, resp.headers)
                                      or BackendUnavailable(code=resp.status))
                    size = resp.content_length
                    got = 0
                    with part.open("wb") as out:
                        async for chunk in resp.content.iter_chunked(CHUNK):
                            out.write(chunk)
                            got += len(chunk)
                            await _maybe_await(on_progress, got / size if size else None)
                    if size is not None and got != size:
                        raise counted(BackendUnavailable(detail="download ended early"))
                part.replace(dest)
                return
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                part.unlink(missing_ok=True)
                raise counted(BackendUnavailable(detail=type(exc).__name__)) from None
            except (TokenExpired, TokenInvalid) as refused:
                part.unlink(missing_ok=True)
                if own_host and not self.anonymous:
                    raise self._operator_token_refused(refused, "a render download") from None
                if renewed or not own_host:
                    raise
                renewed = True
                await self._renew_token(headers["Authorization"][7:])
            except RateLimited as limited:
                part.unlink(missing_ok=True)
                if waited or limited.retry_after > self.max_retry_wait:
                    raise
                waited = True
                await asyncio.sleep(limited.retry_after)
            except NemoError:
                part.unlink(missing_ok=True)
                raise


async def _read_body(resp: aiohttp.ClientResponse) -> Any:
    text = await resp.text(errors="replace")
    if not text:
        return None
    try:
        return jsonlib.loads(text)
    except ValueError:
        return text[:500]


def _unwrap(body: Any) -> Any:
    """`data` from either envelope; the body itself when it has none."""
    if isinstance(body, dict) and ("code" in body or "success" in body) and "data" in body:
        return body["data"]
    return body


def _files_of(body: Any) -> list[dict]:
    data = _unwrap(body)
    files = data.get("files") if isinstance(data, dict) else data
    return [f for f in files if isinstance(f, dict)] if isinstance(files, list) else []


def _content_type(path: Path) -> str:
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def _number(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0
    return int(number) if number.is_integer() else number


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _expired(expires_at: str | None) -> bool:
    if not expires_at:
        return False
    try:
        moment = datetime.fromisoformat(expires_at.replace("Z", "+00:00"))
    except ValueError:
        return False
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment <= datetime.now(timezone.utc)


class BackendUnreachable(BackendUnavailable):
    """The connection itself failed: the request was never sent, so sending it again is safe."""


def counted(error: NemoError) -> NemoError:
    """Count a backend failure in BACKEND_ERRORS{code} and hand it back (for `raise counted(...)`).

    The label is the HTTP status or API code when there is one, else "network" for an exchange
    that broke off, else "other": a few dozen values at most, never a URL or message text.
    """
    code = error.code
    if isinstance(code, int) and 100 <= code <= 9999:
        label = str(code)
    elif isinstance(error, BackendUnavailable):
        label = "network"
    else:
        label = "other"
    BACKEND_ERRORS.labels(code=label).inc()
    return error


def _unavailable(exc: BaseException) -> BackendUnavailable:
    """The error for a failed exchange; "unreachable" only when nothing can have reached the backend."""
    if isinstance(exc, (aiohttp.ClientConnectorError, getattr(aiohttp, "ConnectionTimeoutError", ()))):
        return BackendUnreachable(detail=type(exc).__name__)
    return BackendUnavailable(detail=type(exc).__name__)


def _host(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


async def _maybe_await(callback: Callback | None, *args: Any) -> None:
    if callback is None:
        return
    result = callback(*args)
    if inspect.isawaitable(result):
        await result


def _package_version() -> str:
    try:
        from importlib.metadata import version

        return version("ai-with-music")
    except Exception:  # not installed as a package (running from a checkout)
        return "0.1.0"
