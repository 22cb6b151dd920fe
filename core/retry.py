"""Retrying calls to a chat platform: capped exponential backoff with jitter, honouring retry_after.

Platform-neutral: each adapter supplies a `classify(error)` that says whether a failure may be
retried (and why, and how long the platform asked us to wait); this module only decides when.

    policy = RetryPolicy(attempts=6, base=1.0, cap=30.0, budget=300.0)
    result = await retry_call(lambda: send(), policy=policy, classify=classify,
                              on_retry=lambda verdict, attempt, delay: ...)

A call is only worth retrying when the platform provably did not act on it (a 429, a 5xx before
processing, a connection closed before any answer): the adapters' classifiers decide that.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from typing import Awaitable, Callable, Iterator, TypeVar

T = TypeVar("T")

RATE_LIMITED = "rate_limited"
SERVER_ERROR = "server_error"
NETWORK = "network"


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6  # calls in all, the first one included
    base: float = 1.0  # first backoff delay (seconds)
    cap: float = 30.0  # no single backoff delay is longer than this (a server's retry_after may be)
    budget: float = 300.0  # total seconds of waiting before we give up
    jitter: float = 0.25  # each delay is spread by +-25% so many callers don't retry in step

    def single(self) -> "RetryPolicy":
        """The same policy with one attempt: best-effort calls that must never pile up."""
        return RetryPolicy(attempts=1, base=self.base, cap=self.cap, budget=self.budget, jitter=self.jitter)

    def with_attempts(self, attempts: int) -> "RetryPolicy":
        return RetryPolicy(attempts=max(1, attempts), base=self.base, cap=self.cap, budget=self.budget,
                           jitter=self.jitter)


@dataclass(frozen=True)
class Retryable:
    """A classifier's verdict on a failure that may be retried."""

    reason: str  # RATE_LIMITED | SERVER_ERROR | NETWORK (a metrics label)
    retry_after: float | None = None  # the least wait the platform asked for, if it said


Classifier = Callable[[BaseException], "Retryable | None"]
OnRetry = Callable[[Retryable, int, float], object]


def backoff_delays(policy: RetryPolicy, rng: Callable[[], float] = random.random) -> Iterator[float]:
    """base, 2*base, 4*base... each capped at `policy.cap`, each spread by the jitter."""
    attempt = 0
    while True:
        delay = min(policy.cap, policy.base * (2 ** attempt))
        spread = 1.0 + policy.jitter * (2.0 * rng() - 1.0)
        yield max(0.0, delay * spread)
        attempt += 1


def delay_for(verdict: Retryable, backoff: float) -> float:
    """Never sooner than the platform asked; a repeated 429 still grows with the backoff."""
    if verdict.retry_after is None:
        return backoff
    return max(verdict.retry_after, backoff)


async def retry_call(call: Callable[[], Awaitable[T]], *, policy: RetryPolicy, classify: Classifier,
                     on_retry: OnRetry | None = None,
                     sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
                     clock: Callable[[], float] = time.monotonic) -> T:
    """Await `call()` until it succeeds, the failure is not retryable, or the policy is used up.

    `call` must build its request afresh each time (re-open files: a consumed handle can't be
    re-sent). The last error is raised unchanged, so callers handle it as they always did.
    """
    delays = backoff_delays(policy)
    started = clock()
    attempt = 1
    while True:
        try:
            return await call()
        except Exception as error:  # CancelledError is not an Exception: cancelling still works
            verdict = classify(error)
            if verdict is None or attempt >= policy.attempts:
                raise
            delay = delay_for(verdict, next(delays))
            if clock() - started + delay > policy.budget:
                raise  # the platform wants us away longer than we may wait
            if on_retry is not None:
                on_retry(verdict, attempt, delay)
            await sleep(delay)
            attempt += 1


class PlatformGaveUp(Exception):
    """A chat platform kept refusing a delivery through every retry (429s, 5xx, dropped
    connections). Adapters raise it `from` the platform's last error; the core turns it into one
    plain line for the chat (i18n "platform_gave_up") and marks the job failed."""
