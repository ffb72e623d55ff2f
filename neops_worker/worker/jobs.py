"""Poll, run, push: the worker's job loop, one job at a time.

Jobs are claimed one at a time (``limit: 1``) and polled for again at once after each job and
after any poll that returned work; only empty or failed polls back off, from ``POLL_MIN_INTERVAL``
doubling up to ``POLL_INTERVAL``. No claim goes out while the worker is not registered or its runner
cannot take a job. Everything from claim to push ends in a result, retried until
``RESULT_PUSH_TIMEOUT``; a result the engine refuses as too large (413) is replaced at once by a
short failed result that says so, so the job does not wait for the engine's stuck-job timeout.
A job's last line, ``Job <id> finished: <outcome> ..., result delivered``, comes once its result has
reached the engine (or will not): "finished" means the engine has heard of it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from pydantic import ValidationError

from neops_worker import tracing
from neops_worker.engine.client import EngineClient
from neops_worker.engine.retry import call_with_retry, result_push_policy
from neops_worker.engine.wire import JobDefinition, JobResult, failed_result
from neops_worker.errors import EngineError, EngineRejected, EngineUnavailable, describe_errors
from neops_worker.observability import job_log_context
from neops_worker.settings import Settings
from neops_worker.worker._tasks import cancel, first_of, pause
from neops_worker.worker.burst import ClaimBudget
from neops_worker.worker.events import WorkerObserver, WorkerState
from neops_worker.worker.membership import Membership
from neops_worker.worker.outcome import JobOutcome
from neops_worker.worker.runner import JobRunner

log = logging.getLogger("neops_worker.worker")

#: The status of a body over the engine's limit (``MAX_REQUEST_BODY_SIZE``, 50 MB for a result).
TOO_LARGE = 413
#: How a delivery ends when its result never reaches the engine.
LOST = ("lost", "rejected by the engine")


@dataclass
class _Delivery:
    """One result on its way to the engine: its attempts so far, and what they met."""

    result: JobResult
    #: The next attempt may carry the next poll right behind it (cleared once one did).
    poll_after: bool
    attempts: int = 0
    #: An attempt got no answer after its request went out: the engine may have stored the result.
    answer_lost: bool = False
    started: float = field(default_factory=time.monotonic)
    #: What the poll behind the push claimed, or its failure; None while no poll went out.
    claimed: list[Any] | EngineError | None = None
    #: How the delivery ended, as the job's last line says it ("delivered", "lost", ...).
    ended: str = "not delivered"
    #: This result replaces one the engine refused as too large.
    replaces: bool = False

    @property
    def job_id(self) -> str:
        """The job the result answers."""
        return self.result.job_execution_id


class JobLoop:
    """Claims jobs for ``membership``'s worker, runs each on ``runner`` and pushes its result."""

    def __init__(
        self,
        settings: Settings,
        client: EngineClient,
        runner: JobRunner,
        membership: Membership,
        *,
        observer: WorkerObserver,
        stop: asyncio.Event,
        on_state: Callable[[WorkerState, str], None],
        budget: ClaimBudget | None = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.runner = runner
        self.membership = membership
        self.observer = observer
        self._stop = stop
        #: Told when a job starts (busy) and ends (idle, or draining after a stop).
        self._on_state = on_state
        #: The id of the job in hand; it stays set if the job was abandoned.
        self.current_job: str | None = None
        #: MAX_JOBS, shared by every slot of the daemon (None: no limit).
        self._budget = budget

    def doing(self) -> str:
        """The job in hand as log lines name it: ``job <id>`` or ``no job``."""
        return f"job {self.current_job}" if self.current_job else "no job"

    async def run(self) -> None:
        """Poll, run, push, repeat, until a stop is requested."""
        backoff = self.settings.poll_min_interval
        claimed: list[Any] | None = None  # what the poll right behind the last push claimed
        while True:
            if claimed is None:
                if self._stop.is_set() or not await self._wait_registered() or not await self._runner_ready():
                    break
                if not await self._reserve():
                    break
                claimed = await self.poll()
                if self._budget is not None:
                    self._budget.settle(len(claimed))
            if claimed:  # run even when a stop came meanwhile: a claimed job is a job in hand
                backoff = self.settings.poll_min_interval
                ran = len(claimed)
                claimed = await self.run_batch(claimed)
                if self._budget is not None:
                    self._budget.ran(ran)
                continue
            claimed = None
            if self._stop.is_set():
                break
            await pause(self._stop, backoff)
            backoff = min(backoff * 2, self.settings.poll_interval)

    async def poll(self) -> list[Any]:
        """One poll; a failure is logged and counted, and claims nothing (a poll is never re-sent)."""
        assert self.membership.poll_request is not None
        try:
            jobs: list[Any] | EngineError = await self.client.poll(self.membership.poll_request)
        except EngineError as exc:
            jobs = exc
        return self._polled(jobs)

    def _polled(self, jobs: list[Any] | EngineError) -> list[Any]:
        """A poll's claims; a failed poll is logged and counted, and claims nothing."""
        if isinstance(jobs, EngineError):
            self.observer.poll_failed()
            self.observer.engine_reachable(isinstance(jobs, EngineRejected))
            if _timed_out(jobs):
                log.warning(
                    "Poll failed (%s); a job the engine handed to that poll may be claimed by this worker "
                    "and lost to it (the engine fails it after its stuck-job timeout); raise POLL_TIMEOUT "
                    "(now %g s) if polls are this slow; polling again after a pause",
                    jobs,
                    self.settings.effective_poll_timeout,
                )
            else:
                log.warning("Poll failed (%s); polling again after a pause", jobs)
            return []
        self.observer.engine_reachable(True)
        return jobs

    async def run_batch(self, jobs: list[Any]) -> list[Any] | None:
        """Run the claimed jobs in order; after a stop, the rest are answered without running.

        Returns what the poll sent right behind the last push claimed, or None if none was sent.
        """
        log.info("Processing %d job(s)", len(jobs))
        claimed = None
        for index, raw in enumerate(jobs):
            if self._stop.is_set() and index > 0:
                await self._refuse_rest(jobs[index:])
                return None
            claimed = await self.handle(raw, poll_after=index == len(jobs) - 1)
        return claimed

    async def handle(self, raw: Any, *, poll_after: bool = False) -> list[Any] | None:
        """Run one claimed job (as the engine sent it) and push its result (``poll_after``: and poll)."""
        job = parse_job(raw)
        if not isinstance(job, JobDefinition):
            return await self.push(job, poll_after=poll_after) if job is not None else None
        # The job's span (claim -> run -> push) is the daemon's: a job process that dies still ends it.
        with (
            job_log_context(job.job_id, job.function_block_id, job.type),
            tracing.job_span(job, self.membership.worker_id) as span,
        ):
            self.current_job = job.job_id
            self._on_state(WorkerState.BUSY, f"running job {job.job_id} ({job.function_block_id})")
            outcome = await self._run(job)
            span.finished(outcome)
            delivery = await self._push(outcome.result, poll_after=poll_after)
            span.delivered(delivery.ended, lost=delivery.ended in LOST)
            _log_finished(job, outcome, delivery)
            claimed = self._claimed_behind(delivery)
            self.current_job = None
            if self._stop.is_set():
                self._on_state(WorkerState.DRAINING, "draining: no job")
            else:
                self._on_state(WorkerState.IDLE, "idle")
            return claimed

    async def push(self, result: JobResult, *, poll_after: bool = False) -> list[Any] | None:
        """Deliver ``result``, retried until ``RESULT_PUSH_TIMEOUT``; a lost result is logged and counted.

        With ``poll_after``, the first attempt also polls, right behind the push on the engine
        client's thread (a claim the loop would otherwise make next, at the cost of one more
        hand-over), if a poll may go out then: the jobs it claimed are returned (None: no poll).
        A result refused as too large (413) is replaced by a short failed result, pushed at once.
        """
        return self._claimed_behind(await self._push(result, poll_after=poll_after))

    async def _push(self, result: JobResult, *, poll_after: bool) -> _Delivery:
        """``push``, returning the (last) delivery: how it ended, and what the poll behind it claimed."""
        delivery = _Delivery(result, poll_after)
        if await self._deliver(delivery, replaceable=True):
            # No poll went out: one follows only an answer that ends the delivery (2xx, 409).
            delivery = _Delivery(self._too_large(result), poll_after, replaces=True)
            await self._deliver(delivery, replaceable=False)
        return delivery

    def _claimed_behind(self, delivery: _Delivery) -> list[Any] | None:
        """What the poll behind the push claimed (a failed poll logged and counted); None: no poll."""
        return None if delivery.claimed is None else self._polled(delivery.claimed)

    async def _deliver(self, delivery: _Delivery, *, replaceable: bool) -> bool:
        """Push under the retry policy and log the end; True: refused as too large, to be replaced."""
        job_id = delivery.job_id
        with tracing.span("result push", {"neops.job.id": job_id}):
            try:
                accepted = await call_with_retry(
                    result_push_policy(self.settings.result_push_timeout),
                    f"Result push of job {job_id}",
                    partial(self._attempt, delivery),
                    wake=self.client.answers,
                )
            except EngineRejected as exc:
                if exc.status == TOO_LARGE and replaceable:
                    tracing.failed(f"refused as too large ({exc})")
                    return True
                delivery.ended = "rejected by the engine"
                self._lost(
                    job_id, f"The engine rejected the result of job {job_id} ({exc}); the result is lost"
                )
            except EngineError as exc:
                delivery.ended = "lost"
                self._lost(
                    job_id,
                    f"Could not deliver the result of job {job_id} before RESULT_PUSH_TIMEOUT ({exc}); "
                    "the result is lost",
                )
            else:
                self._delivered(delivery, accepted)
            if delivery.ended in LOST:
                tracing.failed(f"result {delivery.ended}")
            return False

    async def _attempt(self, delivery: _Delivery) -> bool:
        """One push (True: accepted; False: 409), with the next poll behind it when one may go out."""
        delivery.attempts += 1
        with tracing.span("result push attempt", {"neops.push.attempt": delivery.attempts}):
            try:
                if not (delivery.poll_after and self._may_poll()):
                    return await self.client.push_result(delivery.result)
                # Only one attempt carries it: a retried push is one after an outage.
                delivery.poll_after = False
                assert self.membership.poll_request is not None
                accepted, delivery.claimed = await self.client.push_result_then_poll(
                    delivery.result, self.membership.poll_request, self._may_poll
                )
            except EngineUnavailable as exc:
                delivery.answer_lost |= exc.request_sent and exc.status is None
                raise
            return accepted

    def _delivered(self, delivery: _Delivery, accepted: bool) -> None:
        """Log how a delivery ended: taken (after retries, how long), or a result already there (409)."""
        job_id, attempts = delivery.job_id, delivery.attempts
        took = time.monotonic() - delivery.started
        delivery.ended = "delivered" if accepted else "not taken"
        if accepted and attempts > 1:
            delivery.ended = f"delivered after {attempts} attempts in {took:.1f} s"
            log.info("Result of job %s delivered after %d attempts in %.1f s", job_id, attempts, took)
        elif accepted:
            log.debug("Result of job %s delivered", job_id)
        elif delivery.answer_lost:
            delivery.ended = "already delivered"
            log.info(
                "Result of job %s already delivered: the engine already holds a result (409 on attempt %d) "
                "from an earlier attempt whose answer was lost",
                job_id,
                attempts,
            )
        else:
            log.warning(
                "The engine already holds a result for job %s (409): it may have failed the job itself "
                "(its stuck-job timeout, or this worker seen offline); this result was not taken",
                job_id,
            )

    def _too_large(self, result: JobResult) -> JobResult:
        """The short failed result that replaces one the engine refused as too large (413)."""
        job_id, size = result.job_execution_id, self.client.encoded_size(result)
        log.error(
            "The result of job %s (%d bytes) was refused as too large (413); pushing a short failed "
            "result in its place",
            job_id,
            size,
        )
        message = (
            f"The result of job {job_id} was too large for the engine: {size} bytes (the engine refused "
            "it with 413; its default limit is 50 MB)"
        )
        return failed_result(job_id, message, retryable=False)

    def _lost(self, job_id: str, line: str) -> None:
        """A result that will never reach the engine: logged and counted."""
        self.observer.result_push_failed(job_id)
        log.error("%s", line)

    def _may_poll(self) -> bool:
        """A poll may go right behind a push: not stopping, registered, the runner free, no MAX_JOBS.

        Asked on the client thread too. Under MAX_JOBS every poll goes out from the loop, which
        reserves its job first.
        """
        return (
            self._budget is None
            and not self._stop.is_set()
            and self.membership.registered.is_set()
            and self.runner.is_ready()
        )

    async def _reserve(self) -> bool:
        """Under MAX_JOBS, reserve the job of the next poll, waiting while the budget is spoken for."""
        while self._budget is not None and not self._budget.reserve():
            await pause(self._stop, self.settings.poll_min_interval)
            if self._stop.is_set():
                return False
        return True

    async def _run(self, job: JobDefinition) -> JobOutcome:
        self.observer.job_started(job.job_id, job.function_block_id, job.type)
        log.info("Job %s started: %s %s", job.job_id, job.type, job.function_block_id)
        outcome = await self.runner.run(job)
        self.observer.job_finished(
            job.job_id, job.function_block_id, job.type, outcome.outcome, outcome.duration_s
        )
        log.debug(
            "Job %s ran: %s in %.0f ms; delivering its result",
            job.job_id,
            outcome.outcome,
            outcome.duration_s * 1000,
        )
        return outcome

    async def _refuse_rest(self, jobs: list[Any]) -> None:
        log.warning("Shutdown requested, skipping %d remaining job(s)", len(jobs))
        for raw in jobs:
            job = parse_job(raw)
            if isinstance(job, JobDefinition):
                job = failed_result(
                    job.job_id, f"Not run: worker {self.membership.worker_id} is shutting down"
                )
            if job is not None:
                await self.push(job)

    async def _wait_registered(self) -> bool:
        registered = self.membership.registered
        if not registered.is_set():
            waiter = asyncio.ensure_future(registered.wait())
            if not await first_of(waiter, self._stop.wait()):
                waiter.cancel()
        return registered.is_set() and not self._stop.is_set()

    async def _runner_ready(self) -> bool:
        """No claim before the runner can take the job (a job process replaced, no block still running)."""
        if self.runner.is_ready():  # the usual case: nothing to wait for, no task to start
            return not self._stop.is_set()
        ready = asyncio.ensure_future(self.runner.ready())
        if not await first_of(ready, self._stop.wait()):
            await cancel(ready)
            return False
        ready.result()
        return not self._stop.is_set()


def _log_finished(job: JobDefinition, outcome: JobOutcome, delivery: _Delivery) -> None:
    """The job's last line, once its result reached the engine (or will not): outcome, time, delivery."""
    ended = f"result {delivery.ended}"
    if delivery.replaces:
        ended = f"result too large, a short failed result {delivery.ended} in its place"
    log.info(
        "Job %s finished: %s in %.0f ms%s, %s: %s",
        job.job_id,
        outcome.outcome,
        outcome.duration_s * 1000,
        " (retryable: false)" if outcome.result.result.retryable is False else "",
        ended,
        outcome.result.result.message,
        extra={"duration_ms": round(outcome.duration_s * 1000, 1), "outcome": outcome.outcome},
    )


def parse_job(raw: Any) -> JobDefinition | JobResult | None:
    """A claimed job from the poll answer; a malformed one becomes a failed result (if it has an id)."""
    try:
        return JobDefinition.model_validate(raw)
    except ValidationError as exc:
        job_id = raw.get("jobId") if isinstance(raw, dict) else None
        problems = describe_errors(exc)
        if isinstance(job_id, str) and job_id:
            log.error("Job %s is malformed (%s); reporting it failed", job_id, problems)
            return failed_result(job_id, f"Malformed job definition: {problems}", retryable=False)
        log.error(
            "The engine sent a job without a usable jobId (%s); it cannot be answered: %.300r", problems, raw
        )
        return None


def _timed_out(failure: EngineError) -> bool:
    """A poll sent but unanswered in time: the engine may have claimed a job with it (contract 8.5)."""
    return isinstance(failure, EngineUnavailable) and failure.request_sent and failure.timed_out
