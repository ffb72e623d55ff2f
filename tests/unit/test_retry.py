"""Retry policies: transient failures are retried to a deadline, permanent ones never."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from neops_worker.engine.answers import AnswerSignal
from neops_worker.engine.retry import RetryPolicy, call_with_retry
from neops_worker.errors import EngineRejected, EngineUnavailable


def _fast(deadline: float) -> RetryPolicy:
    return RetryPolicy(deadline, initial_wait=0.01, max_wait=0.05)


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


async def test_the_first_attempt_counts_as_attempt_one(caplog: pytest.LogCaptureFixture) -> None:
    """The attempt made before any retry machinery exists is attempt 1: the retries log 1, then 2."""
    attempts = 0

    async def call() -> str:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise EngineUnavailable("result push", "HTTP 503: down", 503)
        return "ok"

    with caplog.at_level(logging.WARNING, logger="neops_worker.retry"):
        assert await call_with_retry(_fast(5), "x", call) == "ok"
    logged = [record.__dict__["attempt"] for record in caplog.records if record.name == "neops_worker.retry"]
    assert logged == [1, 2]
    assert attempts == 3


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


def _patient(deadline: float) -> RetryPolicy:
    """Waits of up to 1000 s: a retry that comes back within seconds was woken."""
    return RetryPolicy(deadline, initial_wait=1000, max_wait=1000)


async def test_an_engine_answer_wakes_a_waiting_retry(caplog: pytest.LogCaptureFixture) -> None:
    """The engine answers another call while a retry sleeps a long backoff: it retries at once."""
    answers = AnswerSignal()
    attempts = 0

    async def call() -> str:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            asyncio.get_running_loop().call_later(0.05, answers.note)  # the heartbeat gets through
            raise EngineUnavailable("result push", "ConnectError: refused", request_sent=False)
        return "ok"

    started = time.monotonic()
    with caplog.at_level(logging.INFO):
        assert await call_with_retry(_patient(2000), "Result push of job j", call, wake=answers) == "ok"
    assert time.monotonic() - started < 5
    assert attempts == 2
    assert "Result push of job j: the engine answers again; retrying now" in caplog.text


async def test_an_answer_during_the_failed_attempt_wakes_its_wait() -> None:
    """An answer that came while the failing attempt was in flight counts: the engine is back."""
    answers = AnswerSignal()
    attempts = 0

    async def call() -> str:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            answers.note()
            raise EngineUnavailable("x", "HTTP 503", 503)
        return "ok"

    started = time.monotonic()
    assert await call_with_retry(_patient(2000), "x", call, wake=answers) == "ok"
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("answered_before", [False, True])
async def test_without_a_new_answer_the_backoff_is_slept_out(answered_before: bool) -> None:
    """No answer since the attempt began (or only an older one): the retry waits its full backoff."""
    answers = AnswerSignal()
    if answered_before:
        answers.note()
    attempts: list[float] = []

    async def call() -> None:
        attempts.append(time.monotonic())
        raise EngineUnavailable("x", "ConnectError", request_sent=False)

    with pytest.raises(EngineUnavailable):
        await call_with_retry(_patient(0.3), "x", call, wake=answers)
    # The long backoff was cut only by the deadline: one more attempt, 0.3 s after the first.
    assert len(attempts) == 2
    assert attempts[1] - attempts[0] >= 0.29


async def test_a_wake_never_cuts_a_retry_after() -> None:
    """An answer right after a 429 with Retry-After: the retry still waits the Retry-After, no longer."""
    answers = AnswerSignal()
    attempts: list[float] = []

    async def call() -> str:
        attempts.append(time.monotonic())
        if len(attempts) == 1:
            asyncio.get_running_loop().call_later(0.01, answers.note)
            raise EngineUnavailable("x", "HTTP 429", 429, retry_after=0.3)
        return "ok"

    assert await call_with_retry(_patient(2000), "x", call, wake=answers) == "ok"
    assert 0.29 <= attempts[1] - attempts[0] < 5


def test_start_up_retries_pause_10_s_at_most_and_result_pushes_30_s() -> None:
    """A worker started before its engine meets it within 10 s of its coming; pushes back off further."""
    from neops_worker.engine.retry import result_push_policy, startup_policy

    assert (startup_policy(120).max_wait, result_push_policy(300).max_wait) == (10.0, 30.0)
