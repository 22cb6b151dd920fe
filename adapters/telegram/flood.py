"""Flood control and retries for every Bot API call, in the one place all of them pass through.

`RetryingRateLimiter` is PTB's AIORateLimiter (30 msg/s overall, 20 msg/min per group) with our
own retry loop around each single attempt (core.retry): 429 RetryAfter bursts of any length,
5xx answers and connections that died before any answer are retried with capped exponential
backoff + jitter, never sooner than Telegram's retry_after. A RetryAfter pauses every request
of the bot until it has passed, as PTB does.

Which calls retry how much:
- deliveries (sendVideo, sendMessage, ...): the whole policy (default 6 attempts / 5 minutes);
- display courtesies (editMessageText, sendChatAction, deleteMessage) and any call made with
  `rate_limit_args=1`: one attempt; the reply port shows the newest words later instead, so a
  flood of edits collapses to the latest rather than piling up;
- everything else (getUpdates, getFile, setMyCommands, ...): RetryAfter only, up to 4 attempts.

Re-sending is safe for uploads: PTB reads a file given as a path into memory once, and each
attempt re-posts those bytes (an open handle would be spent after the first try).

Every retry is counted in core.metrics.PLATFORM_RETRIES{surface="telegram"}.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import logging
import time
from typing import Any

import httpx
from telegram.error import NetworkError, RetryAfter, TimedOut
from telegram.ext import AIORateLimiter
from telegram.request import HTTPXRequest

from core.metrics import PLATFORM_RETRIES
from core.retry import NETWORK, RATE_LIMITED, SERVER_ERROR, RetryPolicy, Retryable, retry_call

log = logging.getLogger(__name__)

DELIVERIES = frozenset({"sendVideo", "sendMessage", "sendDocument", "sendPhoto", "sendAnimation", "sendAudio",
                        "sendMediaGroup", "copyMessage", "forwardMessage"})
BEST_EFFORT = frozenset({"editMessageText", "editMessageCaption", "sendChatAction", "deleteMessage"})
OTHER_ATTEMPTS = 4  # RetryAfter on anything else: as PTB's AIORateLimiter(max_retries=3) did

# The request provably never reached Telegram's processing: no connection, the pool was full, or
# the connection died while we were still sending (httpx: Connect*, Pool*, Write*). A connection
# closed or reset before any answer (RemoteProtocolError, ReadError) is retried too: Telegram's
# front answers or stays open once it has taken a request, so a hang-up means it did not. This
# is the one case that could, very rarely, deliver twice (the Bot API has no idempotency key);
# a read *timeout* is never retried, since there the whole request arrived and may be in work.
_NOT_DELIVERED = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.WriteError,
                  httpx.WriteTimeout, httpx.RemoteProtocolError, httpx.ReadError)


class ServerError(NetworkError):
    """Telegram (or its front) answered 5xx: the request was not processed."""

    def __init__(self, status: int) -> None:
        super().__init__(f"Telegram server error ({status})")
        self.status = status


class StatusAwareRequest(HTTPXRequest):
    """PTB's HTTPX transport, raising `ServerError` for 5xx answers (PTB folds every status it
    has no special error for, 413 included, into one NetworkError; only 5xx may be retried)."""

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        code, payload = await super().do_request(*args, **kwargs)
        if 500 <= code <= 599:
            raise ServerError(code)
        return code, payload


def retry_after_seconds(error: RetryAfter) -> float:
    value = getattr(error, "_retry_after", None)  # a timedelta in PTB 22; the property may warn
    if value is None:
        value = error.retry_after
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


def classify(error: BaseException) -> Retryable | None:
    """Whether a failed Bot API call may be retried, and why (None: it may not)."""
    if isinstance(error, RetryAfter):
        return Retryable(RATE_LIMITED, retry_after_seconds(error))
    if isinstance(error, ServerError):
        return Retryable(SERVER_ERROR)
    if isinstance(error, (TimedOut, NetworkError)) and isinstance(error.__cause__, _NOT_DELIVERED):
        return Retryable(NETWORK)
    return None


class _QuietGiveUp(logging.Filter):
    """AIORateLimiter logs a traceback when its own (zero) retries are used up; ours follow."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Rate limit hit after maximum")


class RetryingRateLimiter(AIORateLimiter):
    def __init__(self, policy: RetryPolicy, **limits: Any) -> None:
        super().__init__(max_retries=0, **limits)  # one attempt each time we call it; we retry
        self.policy = policy
        self._paused_until = 0.0  # monotonic time a RetryAfter holds every request until
        logging.getLogger("telegram.ext.AIORateLimiter").addFilter(_QUIET)

    def policy_for(self, endpoint: str, rate_limit_args: Any) -> tuple[RetryPolicy, bool]:
        """(policy, whether only RetryAfter is retried) for one call."""
        if isinstance(rate_limit_args, int) and rate_limit_args > 0:
            return self.policy.with_attempts(rate_limit_args), False
        if endpoint in DELIVERIES:
            return self.policy, False
        if endpoint in BEST_EFFORT:
            return self.policy.single(), False
        return self.policy.with_attempts(OTHER_ATTEMPTS), True

    async def process_request(self, callback, args, kwargs, endpoint, data, rate_limit_args):  # type: ignore[override]
        policy, only_rate_limits = self.policy_for(endpoint, rate_limit_args)

        async def attempt():
            await self._wait_out_pause()
            try:
                return await super(RetryingRateLimiter, self).process_request(
                    callback, args, kwargs, endpoint, data, None)
            except RetryAfter as error:
                # Like PTB: Telegram said "slow down", so every request of this bot waits.
                pause = time.monotonic() + retry_after_seconds(error) + 0.1
                self._paused_until = max(self._paused_until, pause)
                raise

        def verdict(error: BaseException) -> Retryable | None:
            found = classify(error)
            if found is not None and only_rate_limits and found.reason != RATE_LIMITED:
                return None
            return found

        def count(found: Retryable, number: int, delay: float) -> None:
            PLATFORM_RETRIES.labels(surface="telegram", reason=found.reason).inc()
            log.info("telegram %s: %s, retry %d in %.1f s", endpoint, found.reason, number, delay)

        return await retry_call(attempt, policy=policy, classify=verdict, on_retry=count)

    async def _wait_out_pause(self) -> None:
        while (wait := self._paused_until - time.monotonic()) > 0:
            await asyncio.sleep(wait)


_QUIET = _QuietGiveUp()
