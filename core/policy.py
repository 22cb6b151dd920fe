"""Operator restrictions: who may use the bot, how fast, and how much heavy work at once.

`Core.handle` asks `AccessPolicy.admit` before it queues anything. The rules:

Who (allowed_users, allowed_chats): both empty = everyone. Otherwise a message passes when its
  user is listed OR its chat is listed. So an allowed user may use the bot in a private chat and
  in any group, and an allowed group chat lets all of its members use the bot there (only there).
  An entry is a bare id ("42": that id on any surface) or surface-qualified ("telegram:42",
  "discord:1234": only on that surface). A stranger hears one polite line per chat and user at
  most every `stranger_quiet_seconds`, so a stranger can never make the bot spam a group; the
  line never reveals the lists.
How fast (rate_per_minute): per user, a sliding 60 s window over the messages that cause work
  (not /start, /help or /cancel). A user over the limit hears how many seconds to wait, once
  until the window frees up; the refused messages do not count.
How much (max_jobs_per_user, max_jobs): heavy work items, i.e. clips to add music to and exports,
  that are queued or running. Each admitted heavy item holds a `Slot` that the core releases when
  the item ends, however it ends (done, error, /cancel, time limit).
Trusted surfaces (default: the console, the operator's own terminal) skip every rule.

Everything counts into `core.metrics.REFUSALS{reason}`, one of REASONS. The clock is injectable
(monotonic seconds) so tests control time.
"""

from __future__ import annotations

import math
import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import Callable

from core.events import InboundEvent
from core.i18n import say
from core.metrics import REFUSALS

WINDOW = 60.0  # the rate limit's window, seconds
REASONS = ("not_allowed", "rate", "user_jobs", "busy")


@dataclass(frozen=True)
class PolicyConfig:
    allowed_users: frozenset[str] = frozenset()  # empty (and no chats) = everyone
    allowed_chats: frozenset[str] = frozenset()
    rate_per_minute: int | None = None  # None = no rate limit
    max_jobs_per_user: int | None = None  # heavy items queued or running per user; None = no cap
    max_jobs: int | None = None  # the same across all users
    contact: str | None = None  # whom a stranger should ask for access, e.g. "@alice"
    stranger_quiet_seconds: float = 600.0  # one "not allowed" line per chat and user per this long
    trusted_surfaces: frozenset[str] = frozenset({"console"})

    @property
    def restricted(self) -> bool:
        return bool(self.allowed_users or self.allowed_chats)


class Slot:
    """One heavy work item in flight; `release()` is safe to call any number of times."""

    def __init__(self, policy: "AccessPolicy", user_key: str, chat_key: str) -> None:
        self._policy = policy
        self.user_key = user_key
        self.chat_key = chat_key
        self.released = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self._policy._release(self)


@dataclass(frozen=True)
class Admission:
    allowed: bool
    reason: str | None = None  # one of REASONS when refused
    text: str | None = None  # the one line to send; None = stay silent
    slot: Slot | None = None  # held for an admitted heavy item


class AccessPolicy:
    def __init__(self, config: PolicyConfig | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config or PolicyConfig()
        self._clock = clock
        self._users = _IdSet(self.config.allowed_users)
        self._chats = _IdSet(self.config.allowed_chats)
        self._recent: dict[str, deque[float]] = {}  # user -> times of admitted work messages
        self._slow_told_until: dict[str, float] = {}  # user -> end of the wait we last announced
        self._stranger_told: dict[tuple[str, str], float] = {}  # (chat, user) -> when told
        self._held: set[Slot] = set()
        self._per_user: Counter[str] = Counter()

    # --- questions -------------------------------------------------------------------------

    def is_allowed(self, event: InboundEvent) -> bool:
        if event.surface in self.config.trusted_surfaces or not self.config.restricted:
            return True
        return self._users.has(event.surface, event.user_id) or self._chats.has(event.surface, event.chat_id)

    def jobs_in_flight(self, user_key: str | None = None) -> int:
        return len(self._held) if user_key is None else self._per_user[user_key]

    def held_for_chat(self, chat_key: str) -> list[Slot]:
        return [slot for slot in self._held if slot.chat_key == chat_key]

    # --- the gate ----------------------------------------------------------------------------

    def admit(self, event: InboundEvent, lang: str, *, counts: bool, heavy: bool) -> Admission:
        """Decide on one message. `counts`: it causes work (rate-limited); `heavy`: it needs a slot."""
        if event.surface in self.config.trusted_surfaces:
            return Admission(True, slot=self._take(event) if heavy else None)
        if not self.is_allowed(event):
            return self._refuse_stranger(event, lang)
        if not counts:
            return Admission(True)
        user = _user_key(event)
        now = self._clock()
        recent = self._recent.setdefault(user, deque())
        while recent and recent[0] <= now - WINDOW:
            recent.popleft()
        limit = self.config.rate_per_minute
        if limit is not None and len(recent) >= limit:
            wait = max(1, math.ceil(recent[0] + WINDOW - now))
            told = self._slow_told_until.get(user, -math.inf) > now
            self._slow_told_until[user] = recent[0] + WINDOW
            return self._refuse("rate", None if told else say("policy_slow_down", lang, seconds=wait))
        if heavy:
            per_user = self.config.max_jobs_per_user
            if per_user is not None and self._per_user[user] >= per_user:
                return self._refuse("user_jobs", say("policy_user_jobs", lang, count=self._per_user[user]))
            if self.config.max_jobs is not None and len(self._held) >= self.config.max_jobs:
                return self._refuse("busy", say("busy_refused", lang))
        recent.append(now)
        self._slow_told_until.pop(user, None)
        if len(self._recent) > 10_000:  # forget users whose window is empty so memory stays bounded
            self._recent = {u: q for u, q in self._recent.items() if q and q[-1] > now - WINDOW}
            self._slow_told_until = {u: t for u, t in self._slow_told_until.items() if t > now}
        return Admission(True, slot=self._take(event) if heavy else None)

    # --- inside ------------------------------------------------------------------------------

    def _refuse_stranger(self, event: InboundEvent, lang: str) -> Admission:
        now = self._clock()
        key = (event.chat_key, _user_key(event))
        last = self._stranger_told.get(key)
        if last is not None and now - last < self.config.stranger_quiet_seconds:
            return self._refuse("not_allowed", None)
        self._stranger_told[key] = now
        if len(self._stranger_told) > 10_000:  # forget old strangers so memory stays bounded
            horizon = now - self.config.stranger_quiet_seconds
            self._stranger_told = {k: t for k, t in self._stranger_told.items() if t > horizon}
        contact = self.config.contact
        text = (say("policy_not_allowed_contact", lang, contact=contact) if contact
                else say("policy_not_allowed", lang))
        return self._refuse("not_allowed", text)

    @staticmethod
    def _refuse(reason: str, text: str | None) -> Admission:
        REFUSALS.labels(reason=reason).inc()
        return Admission(False, reason=reason, text=text)

    def _take(self, event: InboundEvent) -> Slot:
        slot = Slot(self, _user_key(event), event.chat_key)
        self._held.add(slot)
        self._per_user[slot.user_key] += 1
        return slot

    def _release(self, slot: Slot) -> None:
        if slot in self._held:
            self._held.discard(slot)
            self._per_user[slot.user_key] -= 1
            if self._per_user[slot.user_key] <= 0:
                del self._per_user[slot.user_key]


class _IdSet:
    """Ids as configured: bare ("42", any surface) or qualified ("telegram:42", one surface)."""

    def __init__(self, entries: frozenset[str]) -> None:
        self._bare: set[str] = set()
        self._qualified: set[tuple[str, str]] = set()
        for entry in entries:
            entry = entry.strip()
            surface, sep, ident = entry.partition(":")
            if sep and surface and not surface.lstrip("-").isdigit():
                self._qualified.add((surface.lower(), ident.strip()))
            elif entry:
                self._bare.add(entry)

    def has(self, surface: str, ident: str) -> bool:
        return ident in self._bare or (surface.lower(), ident) in self._qualified


def _user_key(event: InboundEvent) -> str:
    return f"{event.surface}:{event.user_id}"
