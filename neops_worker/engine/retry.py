"""Retry policies, declared once: which engine calls are repeated, how often and for how long.

Only ``EngineUnavailable`` is retried; ``EngineRejected`` ends a retry at once. Waits grow
exponentially from 1 s to 30 s (10 s at start-up: a worker started before its engine has no
other call that could tell it the engine is there, so it looks more often) with full jitter (so
a fleet of workers does not hit a restarting engine at the same moment), honour an engine's
``Retry-After``, and the last wait is shortened to end at the deadline. Given the client's
``AnswerSignal`` (``wake``), a wait ends early as soon as the engine answered any call after the
failed attempt had started: the engine is back, so the call is repeated at once (never before a
``Retry-After`` has passed). The poll has no policy on purpose: a re-sent poll can claim a second
job.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_random_exponential

from neops_worker.engine.answers import AnswerSignal
from neops_worker.errors import EngineUnavailable

T = TypeVar("T")
log = logging.getLogger("neops_worker.retry")


#: The longest pause between two start-up attempts: a worker meets an engine that has just come up
#: within this (none of its calls answered yet, so nothing else ends the pause early).
STARTUP_MAX_WAIT_S = 10.0


@dataclass(frozen=True)
class RetryPolicy:
    """How long, and how patiently, one kind of call is retried (the call names itself in ``what``)."""

    deadline: float
    initial_wait: float = 1.0
    max_wait: float = 30.0


def startup_policy(deadline: float) -> RetryPolicy:
    """Worker and function-block registration: retried until ``STARTUP_RETRY_TIMEOUT``, 10 s apart at most."""
    return RetryPolicy(deadline, max_wait=STARTUP_MAX_WAIT_S)


def result_push_policy(deadline: float) -> RetryPolicy:
    """A job result: retried through engine outages until ``RESULT_PUSH_TIMEOUT`` (a duplicate gets 409)."""
    return RetryPolicy(deadline)


async def call_with_retry(
    policy: RetryPolicy,
    what: str,
    call: Callable[[], Awaitable[T]],
    *,
    wake: AnswerSignal | None = None,
) -> T:
    """Run ``call`` under ``policy``; the last ``EngineUnavailable`` is raised once the deadline passes.

    With ``wake``, a backoff ends as soon as the engine answered since the failed attempt began.
    The first attempt runs bare: the retry machinery is built only once it has failed.
    """
    started = time.monotonic()
    answers_before = wake.count if wake is not None else 0
    try:
        return await call()
    except EngineUnavailable as exc:
        failure = exc
    return await _Retry(policy, what, wake, started, answers_before).resume(call, failure)


class _Retry:
    """The state of one ``call_with_retry``: its deadline, its last wait and the answers seen."""

    def __init__(
        self, policy: RetryPolicy, what: str, wake: AnswerSignal | None, started: float, answers_before: int
    ) -> None:
        self.policy = policy
        self.what = what
        self.wake = wake
        self.started = started
        self.jitter = wait_random_exponential(multiplier=policy.initial_wait, max=policy.max_wait)
        #: The answer count when the last attempt began: only later answers wake its wait.
        self.answers_before = answers_before
        #: The part of the coming wait that no answer may cut short: the engine's Retry-After.
        self.floor = 0.0

    async def resume(self, call: Callable[[], Awaitable[T]], failure: EngineUnavailable) -> T:
        """Retry after the first attempt failed with ``failure``: tenacity's attempt 1 replays it."""
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(EngineUnavailable),
            wait=self.wait,
            stop=self.stop,
            before_sleep=self.before_sleep,
            sleep=self.sleep,
            reraise=True,
        )
        attempts = 0

        async def attempt() -> T:
            nonlocal attempts
            attempts += 1
            if attempts == 1:  # the attempt already made: its wait, log line and stop come from it
                raise failure
            self.mark()
            return await call()

        return await retrying(attempt)

    def remaining(self) -> float:
        """Seconds left until the deadline."""
        return self.policy.deadline - (time.monotonic() - self.started)

    def mark(self) -> None:
        """An attempt begins: remember how many answers the engine had given so far."""
        if self.wake is not None:
            self.answers_before = self.wake.count

    def wait(self, state: RetryCallState) -> float:
        """The jittered backoff, at least the engine's Retry-After, cut at the deadline."""
        delay = self.jitter(state)
        exc = state.outcome.exception() if state.outcome else None
        retry_after = exc.retry_after if isinstance(exc, EngineUnavailable) else None
        self.floor = retry_after or 0.0
        return max(0.0, min(max(delay, self.floor), self.remaining()))

    def stop(self, state: RetryCallState) -> bool:
        """Give up once the deadline has passed."""
        return self.remaining() <= 0

    async def sleep(self, seconds: float) -> None:
        """Sleep the backoff; past the Retry-After floor, an answer of the engine ends it early."""
        floor = min(self.floor, seconds)
        if floor > 0:
            await asyncio.sleep(floor)
        rest = seconds - floor
        if rest <= 0:
            return
        if self.wake is None:
            await asyncio.sleep(rest)
        elif await self.wake.wait_past(self.answers_before, rest):
            log.info("%s: the engine answers again; retrying now", self.what)

    def before_sleep(self, state: RetryCallState) -> None:
        """Log the failure, the coming wait and the time left."""
        exc = state.outcome.exception() if state.outcome else None
        sleep = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "%s failed (%s); retrying in %.1f s, giving up in %.0f s",
            self.what,
            exc,
            sleep,
            max(0.0, self.remaining()),
            extra={"attempt": state.attempt_number},
        )
