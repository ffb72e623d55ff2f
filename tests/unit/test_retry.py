"""Retry policies: transient failures are retried to a deadline, permanent ones never."""

from __future__ import annotations

import logging
import time

import pytest

from neops_worker.engine.retry import RetryPolicy, call_with_retry
from neops_worker.errors import EngineRejected, EngineUnavailable


def _fast(deadline: float) -> RetryPolicy:
    return RetryPolicy("test", deadline, initial_wait=0.01, max_wait=0.05)


async def test_transient_failures_are_retried_until_success(caplog: pytest.LogCaptureFixture) -> None:
    """Two 503s then success: three attempts, each retry logged with what failed."""
    attempts = 0

    async def call() -> str:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise EngineUnavailable("result push", "HTTP 503: down", 503)
        return "ok"

    with caplog.at_level(logging.WARNING):
        assert await call_with_retry(_fast(5), "Result push of job j", call) == "ok"
    assert attempts == 3
    assert "Result push of job j failed (result push: HTTP 503: down); retrying in" in caplog.text


async def test_permanent_failure_is_not_retried() -> None:
    """A 400 ends the retry at once."""
    attempts = 0

    async def call() -> None:
        nonlocal attempts
        attempts += 1
        raise EngineRejected("registration", "HTTP 400: bad", 400)

    with pytest.raises(EngineRejected):
        await call_with_retry(_fast(5), "x", call)
    assert attempts == 1


async def test_deadline_ends_the_retry_with_the_last_error() -> None:
    """When the deadline passes the last transient error is raised."""
    started = time.monotonic()

    async def call() -> None:
        raise EngineUnavailable("poll", "ConnectError", request_sent=False)

    with pytest.raises(EngineUnavailable, match="ConnectError"):
        await call_with_retry(_fast(0.3), "x", call)
    assert time.monotonic() - started < 2


async def test_retry_after_is_honoured() -> None:
    """A 429 with Retry-After waits at least that long (capped by the deadline)."""
    attempts: list[float] = []

    async def call() -> str:
        attempts.append(time.monotonic())
        if len(attempts) == 1:
            raise EngineUnavailable("x", "HTTP 429", 429, retry_after=0.3)
        return "ok"

    assert await call_with_retry(_fast(5), "x", call) == "ok"
    assert attempts[1] - attempts[0] >= 0.29
