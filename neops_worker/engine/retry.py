"""Retry policies, declared once: which engine calls are repeated, how often and for how long.

Only ``EngineUnavailable`` is retried; ``EngineRejected`` ends a retry at once. Waits grow
exponentially from 1 s to 30 s with full jitter (so a fleet of workers does not hit a restarting
engine at the same moment), honour an engine's ``Retry-After``, and the last wait is shortened to
end at the deadline. The poll has no policy on purpose: a re-sent poll can claim a second job.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_random_exponential

from neops_worker.errors import EngineUnavailable

T = TypeVar("T")
log = logging.getLogger("neops_worker.retry")


@dataclass(frozen=True)
class RetryPolicy:
    """How long, and how patiently, one kind of call is retried."""

    name: str
    deadline: float
    initial_wait: float = 1.0
    max_wait: float = 30.0


def startup_policy(deadline: float) -> RetryPolicy:
    """Worker and function-block registration: retried until ``STARTUP_RETRY_TIMEOUT``."""
    return RetryPolicy("startup", deadline)


def result_push_policy(deadline: float) -> RetryPolicy:
    """A job result: retried through engine outages until ``RESULT_PUSH_TIMEOUT`` (a duplicate gets 409)."""
    return RetryPolicy("result push", deadline)


async def call_with_retry(policy: RetryPolicy, what: str, call: Callable[[], Awaitable[T]]) -> T:
    """Run ``call`` under ``policy``; the last ``EngineUnavailable`` is raised once the deadline passes."""
    started = time.monotonic()
    jitter = wait_random_exponential(multiplier=policy.initial_wait, max=policy.max_wait)

    def remaining() -> float:
        return policy.deadline - (time.monotonic() - started)

    def wait(state: RetryCallState) -> float:
        delay = jitter(state)
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, EngineUnavailable) and exc.retry_after:
            delay = max(delay, exc.retry_after)
        return max(0.0, min(delay, remaining()))

    def stop(state: RetryCallState) -> bool:
        return remaining() <= 0

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        sleep = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "%s failed (%s); retrying in %.1f s, giving up in %.0f s",
            what,
            exc,
            sleep,
            max(0.0, remaining()),
            extra={"attempt": state.attempt_number},
        )

    retrying = AsyncRetrying(
        retry=retry_if_exception_type(EngineUnavailable),
        wait=wait,
        stop=stop,
        before_sleep=before_sleep,
        reraise=True,
    )

    async def attempt() -> T:
        return await call()

    return await retrying(attempt)
