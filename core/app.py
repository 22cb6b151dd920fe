"""The core as the surfaces see it: `Core.handle(event)` for every inbound message.

Quick answers (help, cancel) go out at once; everything else is queued in the chat's lane so a
chat's work runs one item at a time in arrival order while other chats go on. Errors from the
backend become friendly messages here, in one place, so no flow needs its own try/except.
On start, renders that were running when the process stopped are resumed and delivered.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

from core.conversation import (ITEM_DEADLINE, BackendStillDown, Conversation, ConversationConfig, TurnOutcomeUnknown,
                               TurnTimedOut, count_job_end, quietly)
from core.events import InboundEvent
from core.housekeeping import Housekeeping
from core.i18n import lang_of, say
from core.journal import CLIP, COMMAND, CURRENT_WORK, EXPORT, TURN, UPLOAD, WorkJournal
from core.lanes import Lanes, WorkItem
from core.links import LinkConfig, links_in_message
from core.metrics import MESSAGES
from core.media import ClipLimits, Refusal
from core.nemo import errors as nemo_errors
from core.policy import AccessPolicy, PolicyConfig, Slot
from core.retry import PlatformGaveUp
from core.ports import Surface
from core.progress import ProgressDisplay
from core.router import Intent, route
from core.sessions import SessionRegistry
from core.store import FAILED, RENDERING, SENDING, Store
from engine.errors import EngineError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CoreConfig:
    data_dir: Path
    item_timeout: float = 30 * 60  # hard limit for one queued item (turn + render + send)
    still_working_after: float = 120.0
    clip_limits: ClipLimits = field(default_factory=ClipLimits)
    policy: PolicyConfig = field(default_factory=PolicyConfig)  # default: open to everyone, no caps
    backend_wait: float = 300.0  # how long a chat waits for an unreachable backend, then gives up
    clip_ttl: float = 24 * 3600  # how long a clip is kept to rebuild a lost backend session
    housekeeping_interval: float = 3600.0  # seconds between sweeps of expired clips and stale work
    links: LinkConfig = field(default_factory=LinkConfig)  # clip links: size/time caps, allowed intranet


class Core:
    def __init__(self, config: CoreConfig, client, store: Store, surfaces: dict[str, Surface] | None = None) -> None:
        self.config = config
        self.client = client
        self.store = store
        self.surfaces: dict[str, Surface] = dict(surfaces or {})
        self.sessions = SessionRegistry(client, store)
        self.conversation = Conversation(
            ConversationConfig(
                work_dir=config.data_dir / "work",
                keep_dir=config.data_dir / "kept",
                clip_limits=config.clip_limits,
                still_working_after=config.still_working_after,
                backend_wait=config.backend_wait,
                clip_ttl=config.clip_ttl,
            ),
            client, store, self.sessions,
        )
        self.lanes = Lanes()
        # Nothing outlives its job for long: expired clips and stale work folders are swept.
        self.housekeeping = Housekeeping(store, config.data_dir / "work", config.data_dir / "kept",
                                         interval=config.housekeeping_interval,
                                         stale_after=config.item_timeout + 600)
        self.policy = AccessPolicy(config.policy)
        self._media_slots: dict[int, Slot] = {}  # id(media item) -> its heavy item's slot
        self.journal = WorkJournal(store)  # accepted heavy work, so a crash can't lose it silently
        self._media_work: dict[int, str] = {}  # id(media item) -> its journal entry (albums merge)
        self._stopping = False

    def add_surface(self, surface: Surface) -> None:
        self.surfaces[surface.name] = surface

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Tidy expired clips and pick up renders that were running when we stopped."""
        await self.housekeeping.start()  # before any resumed job makes a new work folder
        for job in await self.store.open_jobs():
            surface = self.surfaces.get(job.surface)
            if surface is None:
                log.warning("cannot resume a %s job: that surface is not running", job.surface)
                continue
            port = surface.reply_port_for(job.chat_id, job.delivery)
            if job.state == SENDING:
                # The upload was under way when we stopped; sending again could deliver twice.
                await self.store.update_job(job.id, state=FAILED)
                count_job_end(job.created_at, "resend")
                # Through the lane: the surface may not be connected yet while we start.
                self._notify(job.chat_key, port, say("resend_after_restart", job.language))
                continue
            self.lanes.submit(job.chat_key, WorkItem(run=lambda _item, job=job, port=port:
                                                     self._resume(job, port)))
        # Work cut off before it became a job: one plain line per chat saying what to send again.
        for entry, key in await self.journal.cut_off(set(self.surfaces)):
            port = self.surfaces[entry.surface].reply_port_for(entry.chat_id, entry.delivery)
            self._notify(entry.chat_key, port, say(key, entry.language))

    def _notify(self, chat_key: str, port, text: str) -> None:
        self.lanes.submit(chat_key, WorkItem(run=lambda _item: quietly(port.send_text(text))))

    async def stop(self) -> None:
        """Stop working without cancelling renders: they are resumed on the next start."""
        self._stopping = True  # items cut off now keep their journal entries for the next start
        self.conversation.shutting_down = True
        await self.housekeeping.stop()
        await self.lanes.close()

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait until no chat has work left (the piped console uses this before it exits)."""
        return await self.lanes.drain(timeout)

    # --- inbound -----------------------------------------------------------------------------

    async def handle(self, event: InboundEvent) -> None:
        if event.is_group and not event.addressed_to_bot:
            return
        MESSAGES.labels(surface=event.surface).inc()
        lang = lang_of(event.language, event.text)
        routed = route(event.text, has_media=bool(event.media), command=event.command)
        intent, text = routed.intent, routed.text
        port = event.reply
        # A pasted clip link (core/links.py) is a clip like an attached one; the rest is the instruction.
        link_refusal = None
        if not event.media and intent in (Intent.MUSIC, Intent.UPLOAD, Intent.TURN):
            plan = links_in_message(text, self.config.links, lang)
            if plan is not None and plan.refusal:
                link_refusal = plan.refusal
            elif plan is not None:
                event = replace(event, media=plan.media)
                intent, text = (Intent.UPLOAD if intent is Intent.UPLOAD else Intent.MUSIC), plan.rest

        if intent is Intent.IGNORE:
            return
        # Operator restrictions (core/policy.py): strangers, rate, heavy work in flight.
        heavy = intent is Intent.EXPORT or (intent in (Intent.MUSIC, Intent.UPLOAD) and bool(event.media))
        admission = self.policy.admit(event, lang, heavy=heavy,
                                      counts=intent not in (Intent.START, Intent.HELP, Intent.CANCEL))
        if not admission.allowed:
            if admission.text:
                await quietly(port.send_text(admission.text))
            return
        if link_refusal:
            await port.send_text(link_refusal)
            return
        if intent in (Intent.START, Intent.HELP):
            await port.send_text(say("welcome" if intent is Intent.START else "help", lang))
            return
        if intent is Intent.CANCEL:
            held = self.policy.held_for_chat(event.chat_key)
            stopped = await self.lanes.cancel(event.chat_key)
            self._release(held)  # dropped items never run, so their slots are freed here
            await self.journal.finish_chat(event.chat_key)  # and their journal entries go too
            await port.send_text(say("cancelled" if stopped else "nothing_to_cancel", lang))
            return

        work = self._work_for(intent, event, text, lang)
        work_id = await self.journal.accept(event, _journal_kind(intent, event, text), lang)
        if work_id is None:  # the platform delivered this message again after a restart
            log.info("dropping a message handled before in chat %s", event.chat_key)
            self._release([admission.slot] if admission.slot else [])
            return
        if self._stopping:  # too late to start: a journaled item is reported at the next start
            self._release([admission.slot] if admission.slot else [])
            return
        # Queue first, then say so: an await before `submit` would let a later message overtake it.
        was_busy = self.lanes.busy(event.chat_key)
        media_burst = intent in (Intent.MUSIC, Intent.UPLOAD) and event.media and not text
        slot = admission.slot
        if slot is not None:
            self._media_slots.update((id(media), slot) for media in event.media)
        if work_id is not None:
            self._media_work.update((id(media), work_id) for media in event.media)
        try:
            self.lanes.submit(event.chat_key, WorkItem(
                run=lambda item: self._holding(slot, item, self._guarded(event, lang, work(item)), work_id),
                merge_key=f"{intent.value}:media" if media_burst else None,
                payload=list(event.media),
            ))
        except BaseException:
            self._release([slot] if slot else [])
            raise
        if was_busy:
            await quietly(port.send_text(say("queued", lang)))

    async def _holding(self, slot: Slot | None, item: WorkItem, work, work_id: str | None = None) -> None:
        """Run a work item, then free its slot and those of clips merged into it, however it ends.

        Its journal entries (its own and those of merged clips) are removed then too, except when
        the process is stopping: then the next start tells the chat what was cut off.
        """
        merged = [self._media_work.pop(id(media)) for media in item.payload if id(media) in self._media_work]
        work_ids = list(dict.fromkeys(([work_id] if work_id else []) + merged))
        CURRENT_WORK.set(tuple(work_ids))  # this task's context: an export job links to them
        try:
            await work
        finally:
            self._release([slot] if slot else [])
            self._release([self._media_slots.pop(id(media)) for media in item.payload
                           if id(media) in self._media_slots])
            if work_ids and not self._stopping:
                await asyncio.shield(quietly(self.journal.finish(work_ids)))

    def _release(self, slots: list[Slot]) -> None:
        for held in slots:
            held.release()
        if slots and self._media_slots:
            self._media_slots = {key: held for key, held in self._media_slots.items() if not held.released}

    def _work_for(self, intent: Intent, event: InboundEvent, text: str, lang: str):
        flows = self.conversation
        if intent is Intent.MUSIC:
            if not event.media and not text:
                return lambda item: port_say(event, "need_clip", lang)
            if not event.media:
                return lambda item: flows.turn(event, text, lang)
            return lambda item: flows.music(event, item.payload, text, lang)
        if intent is Intent.UPLOAD:
            return lambda item: flows.upload(event, item.payload, lang)
        if intent is Intent.EXPORT:
            return lambda item: flows.export(event, lang)
        if intent is Intent.STATUS:
            return lambda item: flows.status(event, lang)
        if intent is Intent.CREDITS:
            return lambda item: flows.credits(event, lang)
        if intent is Intent.NEW:
            return lambda item: flows.new(event, lang)
        return lambda item: flows.turn(event, text, lang)

    # --- errors, in one place ----------------------------------------------------------------

    async def _guarded(self, event: InboundEvent, lang: str, work) -> None:
        try:
            async with asyncio.timeout(self.config.item_timeout):
                ITEM_DEADLINE.set(asyncio.get_running_loop().time() + self.config.item_timeout)
                await work
        except asyncio.CancelledError:
            raise
        except TimeoutError:  # the hard limit: stuck work ends with a message, the lane goes on
            log.warning("work in chat %s hit the %.0f s limit", event.chat_key, self.config.item_timeout)
            await quietly(event.reply.send_text(say("timeout", lang)))
        except Exception as error:  # every failure ends as one friendly line in the chat
            text = user_message_for(error, lang)
            if not isinstance(error, (nemo_errors.NemoError, Refusal, EngineError, TurnTimedOut, TurnOutcomeUnknown,
                                      BackendStillDown)):
                log.exception("unexpected failure in chat %s", event.chat_key)
            await quietly(event.reply.send_text(text))

    # --- resuming ----------------------------------------------------------------------------

    async def _resume(self, job, port) -> None:
        progress = ProgressDisplay(port, job.language, still_working_after=self.config.still_working_after)
        try:
            if job.state == RENDERING and job.render_id:
                outcome = await self.client.wait_render(job.render_id)
                if isinstance(outcome, str):  # the render failed while we were away
                    raise nemo_errors.RenderFailed(outcome)
                await self.conversation.deliver(job.id, port, outcome, progress)
            else:  # stopped before the backend took the render: nothing was sent yet
                await self.store.update_job(job.id, state=FAILED)
                count_job_end(job.created_at, "resend")
                await port.send_text(say("restart_lost_export", job.language))
        except Exception as error:
            saved = await self.store.job(job.id)
            if saved is not None and saved.state in (RENDERING, SENDING):  # deliver() counts its own failures
                count_job_end(job.created_at, "failed")
            await self.store.update_job(job.id, state=FAILED)
            await quietly(port.send_text(user_message_for(error, job.language)))
        finally:
            await progress.finish()


def _journal_kind(intent: Intent, event: InboundEvent, text: str) -> str:
    """The journal kind of work queued in a lane (a small command can wait behind a render too)."""
    if intent in (Intent.MUSIC, Intent.UPLOAD) and event.media:
        return CLIP if intent is Intent.MUSIC else UPLOAD
    if intent is Intent.EXPORT:
        return EXPORT
    if (intent is Intent.MUSIC and text) or intent is Intent.TURN:
        return TURN
    return COMMAND


def user_message_for(error: BaseException, lang: str) -> str:
    """The chat's words for a failure; never a raw exception text that might carry a secret."""
    if isinstance(error, Refusal):
        return str(error)
    if isinstance(error, TurnTimedOut):
        return say("timeout", lang)
    if isinstance(error, TurnOutcomeUnknown):
        return say("turn_outcome_unknown", lang)
    if isinstance(error, BackendStillDown):
        return say("backend_gave_up", lang)
    if isinstance(error, EngineError):
        return say("render_failed", lang, reason=str(error))
    if isinstance(error, nemo_errors.AuthRejected):  # the operator's NEMO_TOKEN; the client logged it
        return say("auth_rejected", lang)
    if isinstance(error, nemo_errors.NoCredits):
        url = getattr(error, "register_url", None)
        return say("out_of_credits", lang, url=url) if url else say("out_of_credits_plain", lang)
    if isinstance(error, nemo_errors.UnsupportedFile):
        return say("unsupported_type", lang)
    if isinstance(error, nemo_errors.FileTooLarge):
        return say("file_too_large", lang)
    if isinstance(error, nemo_errors.RateLimited):
        return say("rate_limited", lang)
    if isinstance(error, nemo_errors.BackendUnavailable):
        return say("backend_down", lang)
    if isinstance(error, nemo_errors.RenderFailed):
        return say("render_failed", lang, reason=error.user_message)
    if isinstance(error, nemo_errors.NemoError):
        return say("agent_error", lang, reason=error.user_message)
    if isinstance(error, PlatformGaveUp):
        return say("platform_gave_up", lang)
    return say("generic_error", lang)


async def port_say(event: InboundEvent, key: str, lang: str) -> None:
    await event.reply.send_text(say(key, lang))
