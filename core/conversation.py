"""What the bot does for one chat: the one-shot flow, turns, export, status, credits, new.

Every function here runs inside the chat's lane (one at a time per chat). They talk to the
backend only through the Nemo client and to the user only through the reply port.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import shutil
import tempfile
import time
import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from core import timeline
from core.events import InboundEvent, MediaItem
from core.i18n import human_size, say
from core.journal import CURRENT_WORK
from core.metrics import JOB_SECONDS, JOBS_FINISHED, TURN_SECONDS
from core.media import ClipLimits, Refusal, fetch_clip, keep_copy, prepare_for_chat
from core.nemo import errors as nemo_errors
from core.nemo import events as turn_events
from core.nemo.client import BackendUnreachable
from core.progress import ProgressDisplay
from core.ports import ReplyPort, delivery_target
from core.sessions import SessionRegistry
from core.store import DELIVERED, FAILED, RENDERING, Job, Store
from core.wording import for_chat

log = logging.getLogger(__name__)

DEFAULT_INSTRUCTION = "add background music that matches the mood of my video"
DEFAULT_INSTRUCTION_ZH = "添加与视频氛围相匹配的背景音乐"

# The loop time when the running lane item hits its hard limit (set by Core._guarded), so an
# export cut off then counts as a "timeout" rather than a /cancel in the job metrics.
ITEM_DEADLINE: ContextVar[float | None] = ContextVar("item_deadline", default=None)


def count_job_end(created_at: float, outcome: str) -> None:
    """One export job ended (core.metrics): delivered, too_big, failed, cancelled, timeout, resend."""
    JOBS_FINISHED.labels(outcome=outcome).inc()
    JOB_SECONDS.labels(outcome=outcome).observe(max(0.0, time.time() - created_at))


def _cut_off_outcome() -> str:
    """Why running work was cancelled: the item's hard limit ("timeout") or the user ("cancelled")."""
    deadline = ITEM_DEADLINE.get()
    return "timeout" if deadline is not None and asyncio.get_running_loop().time() >= deadline else "cancelled"


@dataclass(frozen=True)
class ConversationConfig:
    work_dir: Path  # temp work per job, removed after
    keep_dir: Path  # clips kept for a day to rebuild a lost session
    clip_ttl: float = 24 * 3600
    clip_limits: ClipLimits = ClipLimits()
    still_working_after: float = 120.0
    backend_wait: float = 300.0  # how long a chat waits for an unreachable backend before giving up
    backend_retry_max: float = 15.0  # longest pause between two tries while waiting


class Conversation:
    """The flows, shared by all chats; per-chat state lives in the store and the registry."""

    def __init__(self, config: ConversationConfig, client, store: Store, sessions: SessionRegistry) -> None:
        self.config = config
        self.client = client
        self.store = store
        self.sessions = sessions
        self.shutting_down = False  # set at shutdown: open renders are kept for the next start
        self._told_down: set[str] = set()  # chats told "the service can't be reached" this outage

    # --- the one-shot flow -------------------------------------------------------------------

    async def music(self, event: InboundEvent, media: list[MediaItem], instruction: str, lang: str) -> None:
        """Clips in, video with music out: upload, one turn, export."""
        progress = ProgressDisplay(event.reply, lang, still_working_after=self.config.still_working_after)
        try:
            uploaded = await self._take_clips(event, media, progress, lang)
            if not uploaded:
                return
            text = instruction.strip() or (DEFAULT_INSTRUCTION_ZH if lang == "zh" else DEFAULT_INSTRUCTION)
            reply = await self._turn(event, text, progress, lang)
            if reply:
                await event.reply.send_text(reply)
            await self._export(event, progress, lang)
        finally:
            await progress.finish()

    async def upload(self, event: InboundEvent, media: list[MediaItem], lang: str) -> None:
        progress = ProgressDisplay(event.reply, lang, still_working_after=self.config.still_working_after)
        try:
            uploaded = await self._take_clips(event, media, progress, lang)
        finally:
            await progress.finish()
        if uploaded:
            await event.reply.send_text(say("album_merged", lang, count=len(uploaded)) if len(uploaded) > 1
                                        else say("status_header", lang) + "\n" + "\n".join(
                                            timeline.summary(await self._draft(event, lang), lang)))

    async def _take_clips(self, event: InboundEvent, media: list[MediaItem], progress: ProgressDisplay,
                          lang: str) -> list[Path]:
        if not media:
            await event.reply.send_text(say("need_clip", lang))
            return []
        job_dir = Path(tempfile.mkdtemp(prefix="clip-", dir=self._work_root()))
        try:
            await progress.stage("stage_download")
            clips: list[Path] = []
            for item in media:
                try:
                    path, _info = await fetch_clip(item, job_dir, self.config.clip_limits, lang)
                except Refusal as refusal:
                    await event.reply.send_text(str(refusal))
                    continue
                clips.append(path)
            if not clips:
                return []
            if len(clips) > 1:
                await event.reply.send_text(say("album_merged", lang, count=len(clips)))
            await progress.stage("stage_upload")
            kept = []
            for clip in clips:
                kept_path = await asyncio.to_thread(keep_copy, clip, self.config.keep_dir / _safe(event.chat_key))
                await self.store.keep_clip(event.chat_key, kept_path, self.config.clip_ttl)
                kept.append(kept_path)
            # Only a connection that never opened is tried again: a half-sent upload is not repeated.
            try:
                await self._patiently(event, lang, lambda: self.sessions.call(
                    event.chat_key, lang, lambda sid: self.client.upload_files(sid, clips)), safe=BackendUnreachable)
            except nemo_errors.BackendUnavailable:
                # Cut off mid-upload (e.g. the backend died): it may have stored the clips anyway.
                # Once it answers again, look; go on if they are there, else ask for them again.
                if not await self._clips_arrived(event, lang, clips):
                    await event.reply.send_text(say("upload_lost", lang))
                    return []
            return kept
        finally:
            shutil.rmtree(job_dir, ignore_errors=True)

    async def _clips_arrived(self, event: InboundEvent, lang: str, clips: list[Path]) -> bool:
        """True when the session's uploads hold every clip (matched by content hash)."""
        state = await self._patiently(event, lang, lambda: self.sessions.call(
            event.chat_key, lang, lambda sid: self.client.get_state(sid)))
        data = state if isinstance(state, dict) else {}
        inner = data.get("state") if isinstance(data.get("state"), dict) else data
        infos = inner.get("video_infos") if isinstance(inner.get("video_infos"), list) else []
        hashes = {str(info.get("hash")).lower() for info in infos if isinstance(info, dict) and info.get("hash")}
        for clip in clips:
            if not hashes & set(await asyncio.to_thread(_digests, clip)):
                return False
        return True

    # --- turns -------------------------------------------------------------------------------

    async def turn(self, event: InboundEvent, text: str, lang: str) -> None:
        progress = ProgressDisplay(event.reply, lang, still_working_after=self.config.still_working_after)
        try:
            reply = await self._turn(event, text, progress, lang)
        finally:
            await progress.finish()
        if reply:
            await event.reply.send_text(reply)

    async def _turn(self, event: InboundEvent, text: str, progress: ProgressDisplay, lang: str) -> str:
        """Run one turn; returns what to tell the user (agent text, or what changed)."""
        before = await self._draft(event, lang)
        await progress.stage("stage_thinking")
        session_id = await self.sessions.session_for(event.chat_key, lang)
        texts: list[str] = []
        did_work = False
        problem: str | None = None
        ended = "done"
        started = time.monotonic()
        async for ev in self.client.run_turn(session_id, text):
            if isinstance(ev, turn_events.ToolCall):
                did_work = True
                await progress.tool(ev.name)
            elif isinstance(ev, turn_events.ToolResult):
                did_work = True
            elif isinstance(ev, turn_events.Heartbeat):
                progress.alive()
            elif isinstance(ev, turn_events.AgentError):
                problem = ev.message or ev.code or problem
            elif isinstance(ev, turn_events.StreamError):
                problem = ev.message or problem
            elif isinstance(ev, turn_events.TurnEnded):
                ended = ev.reason
                texts = [ev.text] if ev.text else []
                problem = problem or ev.error
        TURN_SECONDS.observe(time.monotonic() - started)  # turns that ran to an end (not refused/cut by us)
        if ended == "watchdog":
            raise TurnTimedOut()
        reply = for_chat("\n".join(texts), turn_did_work=did_work)
        if reply:
            return reply
        # A silent turn (or one cut short): read the draft and say what changed.
        try:
            after = await self._draft(event, lang, patient=False)
        except nemo_errors.BackendUnavailable:
            # The backend went away during the turn: whether the edit was made is unknown, and
            # the message is never sent again (it could be charged twice).
            raise TurnOutcomeUnknown() from None
        changes = timeline.diff(before, after, lang)
        if changes:
            return say("changes_header", lang) + "\n" + "\n".join(changes)
        if problem:
            return say("agent_error", lang, reason=_short(problem))
        if ended == "cut":
            return say("stream_cut", lang)
        return say("no_changes", lang)

    async def _draft(self, event: InboundEvent, lang: str, *, patient: bool = True) -> dict | None:
        if await self.store.chat_session(event.chat_key) is None:
            return None

        def read():
            return self.sessions.call(event.chat_key, lang, lambda sid: self.client.get_state(sid))

        state = await (self._patiently(event, lang, read) if patient else read())
        return _draft_of(state)

    async def _patiently(self, event: InboundEvent, lang: str, call, *,
                         safe: type[Exception] = nemo_errors.BackendUnavailable):
        """`call()` again and again while the backend can't be reached, for up to `backend_wait`.

        The chat is told once per outage that we keep trying; after the wait it gets one plain
        "still unreachable" line (BackendStillDown). Only failures of type `safe` are retried:
        a read, or a request that never left this machine.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.backend_wait
        pause = min(1.0, self.config.backend_retry_max)
        while True:
            try:
                result = await call()
            except safe as error:
                left = deadline - loop.time()
                if left <= 0:
                    self._told_down.discard(event.chat_key)
                    raise BackendStillDown() from error
                if event.chat_key not in self._told_down:
                    self._told_down.add(event.chat_key)
                    await quietly(event.reply.send_text(say("backend_waiting", lang)))
                log.info("backend unreachable for chat %s; trying again in %.1f s", event.chat_key, pause)
                await asyncio.sleep(min(pause, left))
                pause = min(pause * 2, self.config.backend_retry_max)
                continue
            self._told_down.discard(event.chat_key)
            return result

    # --- export ------------------------------------------------------------------------------

    async def export(self, event: InboundEvent, lang: str) -> None:
        progress = ProgressDisplay(event.reply, lang, still_working_after=self.config.still_working_after)
        try:
            await self._export(event, progress, lang)
        finally:
            await progress.finish()

    async def _export(self, event: InboundEvent, progress: ProgressDisplay, lang: str) -> None:
        draft = await self._draft(event, lang)
        if not timeline.has_content(draft):
            await event.reply.send_text(say("nothing_to_export", lang))
            return
        session_id = await self.sessions.session_for(event.chat_key, lang)
        job = Job(
            id=uuid.uuid4().hex, chat_key=event.chat_key, surface=event.surface, chat_id=event.chat_id,
            delivery=delivery_target(event.reply), language=lang, state=RENDERING, session_id=session_id,
        )
        # Linked in the same write: from now on the job's resume path owns this chat's clip.
        await self.store.add_job(job, work_ids=CURRENT_WORK.get())
        await progress.stage("stage_render", 0)

        async def on_render(fraction: float | None) -> None:
            await progress.percent(None if fraction is None else round(fraction * 100))

        async def on_submitted(render_id: str) -> None:
            await self.store.update_job(job.id, render_id=render_id)

        try:
            result = await self.client.render(session_id, draft, on_progress=on_render, on_submitted=on_submitted)
        except asyncio.CancelledError:
            if self.shutting_down:
                raise  # the job stays open and is resumed after the restart
            # /cancel or the time limit: stop the backend's render too, not just our polling.
            await self.store.update_job(job.id, state=FAILED)
            count_job_end(job.created_at, _cut_off_outcome())
            saved = await self.store.job(job.id)
            if saved and saved.render_id:
                await asyncio.shield(quietly(self.client.cancel_render(saved.render_id)))
            raise
        except nemo_errors.NemoError:
            await self.store.update_job(job.id, state=FAILED)
            count_job_end(job.created_at, "failed")
            raise
        await self.deliver(job.id, event.reply, result, progress, draft=draft)

    async def deliver(self, job_id: str, port: ReplyPort, result, progress: ProgressDisplay,
                      draft: dict | None = None) -> None:
        """Download a finished render, fit it to the chat, send it: exactly once per job.

        The job stays "rendering" while we download and fit (a restart then simply does that
        again); it becomes "sending" only for the upload itself, claimed atomically in the store.
        """
        job = await self.store.job(job_id)
        if job is None or job.state != RENDERING:
            return  # already delivered, failed or being sent
        lang = job.language
        work = Path(tempfile.mkdtemp(prefix="deliver-", dir=self._work_root()))
        try:
            await progress.stage("stage_download_result", 0)

            async def on_download(fraction: float | None) -> None:
                await progress.percent(None if fraction is None else round(fraction * 100))

            rendered = work / "rendered.mp4"
            await self.client.download(result, rendered, on_progress=on_download)
            await progress.stage("stage_fit")
            prepared = await prepare_for_chat(rendered, work, port.limits(), job.caption or _caption(job, draft, lang))
            if not await self.store.claim_delivery(job_id):
                return
            try:
                if prepared.video is None:
                    url = getattr(result, "output_url", None)
                    limit = human_size(port.limits().max_upload_bytes)
                    text = (say("too_big_to_send", lang, size=human_size(prepared.size_bytes), limit=limit, url=url)
                            if url else say("too_big_no_link", lang, size=human_size(prepared.size_bytes), limit=limit))
                    await port.send_text(text)
                else:
                    await progress.stage("stage_send")
                    await port.send_video(prepared.video)
            except BaseException as error:
                if not self.shutting_down:  # at shutdown it stays "sending": the restart tells the user
                    await self.store.update_job(job_id, state=FAILED)
                    count_job_end(job.created_at, _cut_off_outcome()
                                  if isinstance(error, asyncio.CancelledError) else "failed")
                raise
            await self.store.update_job(job_id, state=DELIVERED)
            count_job_end(job.created_at, "delivered" if prepared.video is not None else "too_big")
        finally:
            shutil.rmtree(work, ignore_errors=True)

    # --- small commands ----------------------------------------------------------------------

    async def status(self, event: InboundEvent, lang: str) -> None:
        draft = await self._draft(event, lang)
        lines = timeline.summary(draft, lang)
        await event.reply.send_text(say("status_header", lang) + "\n" + "\n".join(lines) if lines
                                    else say("status_empty", lang))

    async def credits(self, event: InboundEvent, lang: str) -> None:
        balance = await self.client.credits()
        frozen = getattr(balance, "frozen", 0) or 0
        frozen_part = say("credits_frozen", lang, frozen=frozen) if frozen else ""
        await event.reply.send_text(say("credits", lang, available=balance.available, frozen_part=frozen_part))

    async def new(self, event: InboundEvent, lang: str) -> None:
        await self.sessions.forget(event.chat_key)
        for path in await self.store.forget_clips(event.chat_key):
            path.unlink(missing_ok=True)
        await event.reply.send_text(say("new_session", lang))

    def _work_root(self) -> Path:
        self.config.work_dir.mkdir(parents=True, exist_ok=True)
        return self.config.work_dir


class TurnTimedOut(Exception):
    """The backend kept the turn open past the watchdog's limit."""


class TurnOutcomeUnknown(Exception):
    """The backend went away during a turn: the edit may or may not have been made."""


class BackendStillDown(Exception):
    """The backend stayed unreachable for the whole `backend_wait`."""


def _digests(path: Path) -> tuple[str, str]:
    """SHA-256 and MD5 of a file: the backend's upload `hash` may be either."""
    sha, md5 = hashlib.sha256(), hashlib.md5()
    with path.open("rb") as source:
        for chunk in iter(lambda: source.read(1024 * 1024), b""):
            sha.update(chunk)
            md5.update(chunk)
    return sha.hexdigest(), md5.hexdigest()


def _draft_of(state) -> dict | None:
    """The draft inside a state response, wherever the backend put it."""
    if state is None:
        return None
    data = state if isinstance(state, dict) else getattr(state, "raw", None) or {}
    inner = data.get("state") if isinstance(data.get("state"), dict) else data
    draft = inner.get("draft")
    return draft if isinstance(draft, dict) else None


def _caption(job: Job, draft: dict | None, lang: str) -> str:
    music = next((item for item in timeline.items(draft) if item.kind == "music"), None)
    if music is not None:
        meta = _music_meta(draft)
        if meta.get("tempo"):
            return say("done_caption", lang, style=music.label, tempo=int(round(float(meta["tempo"]))))
    return say("done_caption_plain", lang)


def _music_meta(draft: dict | None) -> dict:
    for track in (draft or {}).get("t") or []:
        if isinstance(track, dict) and track.get("tt") == timeline.TRACK_AUDIO:
            for segment in track.get("sg") or []:
                if isinstance(segment, dict) and isinstance(segment.get("m"), dict):
                    return segment["m"]
    return {}


async def quietly(call) -> None:
    """Await a best-effort call (a notice, a cleanup): its failure is logged, never raised."""
    try:
        await call
    except Exception as error:  # CancelledError is not an Exception: cancelling still works
        log.warning("a best-effort call failed: %s", type(error).__name__)


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _safe(key: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in key)
