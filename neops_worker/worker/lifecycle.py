"""The worker's whole life: ``serve()`` -> ``startup()`` -> ``main_loop()`` -> ``shutdown()``.

States: starting -> registered -> idle <-> busy -> draining -> stopped, one log line each.
A stop is a request (``request_stop``) that sets an event; a second one escalates.

Jobs are claimed one at a time (``limit: 1``) and polled for again at once after each job and
after any poll that returned work; only empty or failed polls back off, from ``POLL_MIN_INTERVAL``
doubling up to ``POLL_INTERVAL``. The heartbeat runs in its own task from the moment the worker
is registered until the drain has ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from typing import Any

from pydantic import ValidationError

from neops_worker.engine.client import EngineClient
from neops_worker.engine.retry import call_with_retry, result_push_policy, startup_policy
from neops_worker.errors import (
    EngineError,
    EngineRejected,
    IncompatibleEngineError,
    ShutdownTimeoutError,
    describe_errors,
)
from neops_worker.observability import job_log_context, set_worker_identity
from neops_worker.settings import Settings
from neops_worker.wire import (
    JobDefinition,
    JobPoll,
    JobResult,
    RegisterFunctionBlock,
    RegisterWorker,
    failed_result,
)
from neops_worker.worker.events import Observers, WorkerState
from neops_worker.worker.runner import Catalog, JobRunner

log = logging.getLogger("neops_worker.worker")


class Worker:
    """One worker process's lifecycle against one engine."""

    def __init__(
        self,
        settings: Settings,
        client: EngineClient,
        runner: JobRunner,
        *,
        version: str,
        observers: Observers | None = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.runner = runner
        self.catalog = Catalog([])
        self.version = version
        self.observers = observers or Observers()
        self.state = WorkerState.STARTING
        self.worker_id: str | None = None
        self.current_job: str | None = None
        self._stop = asyncio.Event()
        self._force = asyncio.Event()
        self._registered = asyncio.Event()
        self._expired = False
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._poll_request: JobPoll | None = None
        self._reregistration: asyncio.Future[None] | None = None

    # --- requests from outside --------------------------------------------------------------

    def request_stop(self, reason: str = "SIGTERM") -> None:
        """First call: drain and stop. A second call: give up on the job in hand."""
        if self._stop.is_set():
            log.warning("Received %s again. Stopping now, abandoning %s", reason, self._job_phrase())
            self._force.set()
            return
        log.info("Received %s. Shutting down...", reason)
        self._stop.set()

    @property
    def stopping(self) -> bool:
        """A stop was requested."""
        return self._stop.is_set()

    # --- the life ---------------------------------------------------------------------------

    async def serve(self) -> None:
        """Start, work until asked to stop, drain and stop. Raises if the drain did not finish."""
        startup = asyncio.ensure_future(self.startup())
        if not await self._first_of(startup, self._stop.wait()):
            log.warning("Stop requested during start-up; not taking any job")
            await self._cancel(startup)
            await self._stop_visible_parts()
            return
        try:
            startup.result()
        except BaseException:
            # Registered but unable to serve (a block was refused): leave the engine's view clean.
            await self._stop_visible_parts()
            raise
        loop = asyncio.ensure_future(self.main_loop())
        await self._first_of(loop, self._stop.wait())
        await self.shutdown(loop)

    async def startup(self) -> None:
        """Discovery beside version check, worker registration and heartbeat; then the blocks: ready."""
        log.info("NEOPS Worker starting...")
        # Discovery (in the template process, or a thread) needs no engine, and meeting the engine
        # needs no block: both at once, so the first request goes out before the blocks are imported.
        await self._both(self._discover(), self._meet_engine())
        await self._register_blocks()
        self._set_state(WorkerState.REGISTERED, f"registered as {self.worker_id}")
        self._registered.set()
        self.observers.ready(self.worker_id or "")
        self._set_state(WorkerState.IDLE, "idle")

    async def main_loop(self) -> None:
        """Poll, run, push, repeat, until a stop is requested."""
        backoff = self.settings.poll_min_interval
        while not self._stop.is_set():
            if not await self._wait_registered() or not await self._runner_ready():
                break
            jobs = await self._poll()
            if jobs:
                backoff = self.settings.poll_min_interval
                await self._run_batch(jobs)
                continue
            await self._sleep(backoff)
            backoff = min(backoff * 2, self.settings.poll_interval)

    async def shutdown(self, loop: asyncio.Future[None]) -> None:
        """Drain in a fixed order; raises ``ShutdownTimeoutError`` if the job in hand was abandoned."""
        self._set_state(WorkerState.DRAINING, f"draining: {self._job_phrase()}")
        # 1. No more polls (the stop event is set); 2. the job in hand finishes and its result is pushed.
        drained = await self._drain(loop)
        # 3. Only now stop the heartbeat: a silent worker would have its job failed by the engine.
        # 4. Unregister, so the engine stops counting on this worker.
        await self._stop_visible_parts()
        if not drained:
            raise ShutdownTimeoutError(f"Shutdown did not finish in time: abandoned {self._job_phrase()}")

    # --- startup steps ------------------------------------------------------------------------

    async def _discover(self) -> None:
        self.catalog = await self.runner.catalog()
        log.info(
            "Found %d function block(s); jobs run in %s mode", len(self.catalog), self.settings.job_isolation
        )

    async def _meet_engine(self) -> None:
        await self._check_engine()
        await self._register_worker()
        self._heartbeat_task = asyncio.ensure_future(self._heartbeat_loop())

    @staticmethod
    async def _both(first: Awaitable[None], second: Awaitable[None]) -> None:
        """Run both; the first failure cancels the other and is raised (discovery's before the engine's)."""
        tasks = [asyncio.ensure_future(first), asyncio.ensure_future(second)]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        finally:
            for task in tasks:
                if not task.done():
                    await Worker._cancel(task)
        for task in tasks:
            if not task.cancelled() and task.exception() is not None:
                task.result()

    async def _check_engine(self) -> None:
        try:
            answer = await self.client.check_compatibility()
        except EngineError as exc:
            log.warning("Version check not answered (%s); assuming the engine is compatible", exc)
            return
        if not answer.compatible:
            raise IncompatibleEngineError(
                f"The engine (version {answer.version}) is incompatible with "
                f"{answer.checked_library} {answer.checked_version}; not starting"
            )
        if answer.deprecated:
            log.warning("The engine (version %s) marks our contract version as deprecated", answer.version)
        log.info("Engine version %s at %s", answer.version, self.client.base_url)

    async def _register_worker(self) -> None:
        log.info("Registering worker with backend...")
        body = RegisterWorker(
            version=self.version, name=self.settings.worker_name, ip_address=self.settings.worker_ip_address
        )
        try:
            answer = await call_with_retry(
                startup_policy(self.settings.startup_retry_timeout),
                "Worker registration",
                lambda: self.client.register_worker(body),
                wake=self.client.answers,
            )
        except EngineError:
            log.error("Worker registration failed")
            raise
        self.worker_id = answer.uuid
        set_worker_identity(answer.uuid, self.settings.worker_name)
        log.info("Worker registered with id %s", answer.uuid)

    async def _register_blocks(self) -> None:
        assert self.worker_id is not None
        # One job at a time: claim exactly as many jobs as there are free slots (one).
        self._poll_request = JobPoll(
            function_block_ids=self.catalog.identities(), limit=1, worker_id=self.worker_id
        )
        bodies = self.catalog.registration_bodies(self.worker_id, self.settings.register_reversible)
        policy = startup_policy(self.settings.startup_retry_timeout)
        limit = asyncio.Semaphore(self.settings.registration_concurrency)

        async def register(body: RegisterFunctionBlock) -> bool:
            async with limit:
                return await call_with_retry(
                    policy,
                    f"Registration of {body.fb_id}",
                    lambda: self.client.register_function_block(body),
                    wake=self.client.answers,
                )

        try:
            created = await asyncio.gather(*(register(body) for body in bodies))
        except EngineError:
            log.error("Function block registration failed")
            raise
        log.info(
            "Registered %d function block(s) (%d already known to the engine)",
            len(created),
            created.count(False),
        )

    # --- heartbeat -----------------------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        while True:
            await self._beat()
            await asyncio.sleep(self.settings.heartbeat_interval)

    async def _beat(self) -> None:
        worker_id = self.worker_id
        if worker_id is None:
            self.observers.heartbeat(False)  # registering again: alive, but nothing to ping with yet
            return
        try:
            await self.client.ping(worker_id)
        except EngineRejected as exc:
            self.observers.heartbeat(False)
            self.observers.engine_reachable(True)
            if exc.status == 404:
                await self._on_expired()
            else:
                log.warning(
                    "Heartbeat rejected (%s); pinging again in %gs", exc, self.settings.heartbeat_interval
                )
        except EngineError as exc:
            self.observers.heartbeat(False)
            self.observers.engine_reachable(False)
            log.warning("Heartbeat failed (%s); pinging again in %gs", exc, self.settings.heartbeat_interval)
        else:
            self.observers.heartbeat(True)
            self.observers.engine_reachable(True)

    async def _on_expired(self) -> None:
        log.error("Worker expired! Backend rejected ping with 404.")
        self._registered.clear()
        self.worker_id = None
        self._expired = True
        if self._stop.is_set():
            log.warning("Not registering again: the worker is shutting down")
            return
        if self._reregistration is not None and not self._reregistration.done():
            return  # already registering again; it will pick up the lost id
        log.info("Registering again under a new id; %s continues", self._job_phrase())
        # A task of its own, so the heartbeat goes on for the new id while the blocks register.
        self._reregistration = asyncio.ensure_future(self._reregister())

    async def _reregister(self) -> None:
        """Register again (new id, blocks again) until it works or the worker stops."""
        while not self._stop.is_set():
            try:
                if self.worker_id is None:
                    await self._register_worker()
                await self._register_blocks()
            except EngineError as exc:
                log.error(
                    "Re-registration failed (%s); trying again in %gs", exc, self.settings.heartbeat_interval
                )
                await self._sleep(self.settings.heartbeat_interval)
                continue
            self._expired = False
            self._registered.set()
            self.observers.ready(self.worker_id or "")
            return

    # --- polling and jobs -----------------------------------------------------------------------

    async def _wait_registered(self) -> bool:
        if not self._registered.is_set():
            await self._first_of(asyncio.ensure_future(self._registered.wait()), self._stop.wait())
        return self._registered.is_set() and not self._stop.is_set()

    async def _runner_ready(self) -> bool:
        """No claim before the runner can take the job (a job process replaced, no block still running)."""
        ready = asyncio.ensure_future(self.runner.ready())
        if not await self._first_of(ready, self._stop.wait()):
            await self._cancel(ready)
            return False
        ready.result()
        return not self._stop.is_set()

    async def _poll(self) -> list[Any]:
        assert self._poll_request is not None
        try:
            jobs = await self.client.poll(self._poll_request)
        except EngineError as exc:
            self.observers.poll_failed()
            self.observers.engine_reachable(isinstance(exc, EngineRejected))
            log.warning("Poll failed (%s); polling again after a pause", exc)
            return []
        self.observers.engine_reachable(True)
        return jobs

    async def _run_batch(self, jobs: list[Any]) -> None:
        log.info("Processing %d job(s)", len(jobs))
        for index, raw in enumerate(jobs):
            if self._stop.is_set() and index > 0:
                await self._refuse_rest(jobs[index:])
                return
            await self._handle(raw)

    async def _refuse_rest(self, jobs: list[Any]) -> None:
        log.warning("Shutdown requested, skipping %d remaining job(s)", len(jobs))
        for raw in jobs:
            job = _parse_job(raw)
            if isinstance(job, JobDefinition):
                job = failed_result(job.job_id, f"Not run: worker {self.worker_id} is shutting down")
            if job is not None:
                await self._push(job)

    async def _handle(self, raw: Any) -> None:
        job = _parse_job(raw)
        if not isinstance(job, JobDefinition):
            if job is not None:
                await self._push(job)
            return
        with job_log_context(job.job_id, job.function_block_id, job.type):
            self.current_job = job.job_id
            self._set_state(WorkerState.BUSY, f"running job {job.job_id} ({job.function_block_id})")
            self.observers.job_started(job.job_id, job.function_block_id, job.type)
            log.info("Job %s started: %s %s", job.job_id, job.type, job.function_block_id)
            outcome = await self.runner.run(job)
            self.observers.job_finished(
                job.job_id, job.function_block_id, job.type, outcome.outcome, outcome.duration_s
            )
            log.info(
                "Job %s finished: %s in %.0f ms: %s",
                job.job_id,
                outcome.outcome,
                outcome.duration_s * 1000,
                outcome.result.result.message,
                extra={"duration_ms": round(outcome.duration_s * 1000, 1), "outcome": outcome.outcome},
            )
            await self._push(outcome.result)
            self.current_job = None
            if self._stop.is_set():
                self._set_state(WorkerState.DRAINING, "draining: no job")
            else:
                self._set_state(WorkerState.IDLE, "idle")

    async def _push(self, result: JobResult) -> None:
        job_id = result.job_execution_id
        policy = result_push_policy(self.settings.result_push_timeout)
        try:
            accepted = await call_with_retry(
                policy,
                f"Result push of job {job_id}",
                lambda: self.client.push_result(result),
                wake=self.client.answers,
            )
        except EngineRejected as exc:
            self.observers.result_push_failed(job_id)
            log.error("The engine rejected the result of job %s (%s); the result is lost", job_id, exc)
        except EngineError as exc:
            self.observers.result_push_failed(job_id)
            log.error(
                "Could not deliver the result of job %s before RESULT_PUSH_TIMEOUT (%s); the result is lost",
                job_id,
                exc,
            )
        else:
            if not accepted:
                log.warning("The engine already holds a result for job %s (409); dropped this one", job_id)
            else:
                log.debug("Result of job %s delivered", job_id)

    # --- shutdown steps --------------------------------------------------------------------------

    async def _drain(self, loop: asyncio.Future[None]) -> bool:
        timeout = self.settings.shutdown_timeout
        finished = await self._first_of(
            asyncio.ensure_future(asyncio.wait_for(asyncio.shield(loop), timeout)),
            self._force.wait(),
            swallow=True,
        )
        if finished and loop.done() and not loop.cancelled():
            loop.result()
            return True
        why = "a second signal" if self._force.is_set() else f"SHUTDOWN_TIMEOUT ({timeout:g} s)"
        log.error("Drain cut short by %s; abandoning %s", why, self._job_phrase())
        await self._cancel(loop)
        return False

    async def _stop_visible_parts(self) -> None:
        for task in (self._reregistration, self._heartbeat_task):
            if task is not None:
                await self._cancel(task)
        if self.worker_id is not None and not self._expired:
            try:
                await self.client.unregister(self.worker_id)
                log.info("Worker %s unregistered", self.worker_id)
            except EngineError as exc:
                log.warning("Unregister failed (%s); stopping anyway", exc)
        self._set_state(WorkerState.STOPPED, "stopped")

    # --- helpers ---------------------------------------------------------------------------------

    def _set_state(self, state: WorkerState, detail: str) -> None:
        if state is not self.state:
            level = (
                logging.DEBUG if {state, self.state} <= {WorkerState.IDLE, WorkerState.BUSY} else logging.INFO
            )
            log.log(level, "Worker state: %s -> %s", self.state.value, state.value)
        self.state = state
        self.observers.state_changed(state, detail)

    def _job_phrase(self) -> str:
        return f"job {self.current_job}" if self.current_job else "no job"

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    @staticmethod
    async def _first_of(task: asyncio.Future[Any], other: Awaitable[Any], swallow: bool = False) -> bool:
        """Wait for ``task`` or ``other``; True if ``task`` finished first."""
        waiter = asyncio.ensure_future(other)
        try:
            await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        if task.done() and swallow and not task.cancelled():
            task.exception()
        return task.done()

    @staticmethod
    async def _cancel(task: asyncio.Future[Any]) -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


def _parse_job(raw: Any) -> JobDefinition | JobResult | None:
    """A claimed job from the poll answer; a malformed one becomes a failed result (if it has an id)."""
    try:
        return JobDefinition.model_validate(raw)
    except ValidationError as exc:
        job_id = raw.get("jobId") if isinstance(raw, dict) else None
        problems = describe_errors(exc)
        if isinstance(job_id, str) and job_id:
            log.error("Job %s is malformed (%s); reporting it failed", job_id, problems)
            return failed_result(job_id, f"Malformed job definition: {problems}")
        log.error(
            "The engine sent a job without a usable jobId (%s); it cannot be answered: %.300r", problems, raw
        )
        return None
