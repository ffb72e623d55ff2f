"""Execute one job: claimed job in, job result out, whatever happens in between.

Used by the worker, by ``neops_worker exec`` and by the testing kit, so a block behaves the same
everywhere. Nothing between claim and result may escape as an exception: an unknown block, an
unknown job type, invalid parameters or context, a rollback job for a block without rollback, an
exception in the block, a timeout, or a result that cannot be built all become a ``failed``
result whose message says why.

A failure that every attempt would meet says so (``retryable: false``, contract 6.1), so that an
engine that retries failed jobs does not run it again for nothing: a job the worker refuses
(``JobInputError``) and a block's own verdict (``PermanentFailure``, or a failed result with
``retryable=False``). Everything else leaves the engine to decide: a crash, a timeout, an exception,
a block's failed result, and a block this worker does not serve (another worker may).

Blocks run off the caller's event loop, each job in a thread of its own (an ``async def`` block
gets a fresh event loop there), so a block that blocks cannot delay heartbeats or signals.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import logging
import os
import queue
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from functools import partial
from typing import Any

from pydantic import BaseModel, ValidationError

from neops_worker.blocks.base import (
    AcquireParams,
    FunctionBlockAcquireResult,
    FunctionBlockParams,
    FunctionBlockResult,
    FunctionBlockRollbackResult,
    PermanentFailure,
    implements_rollback,
    result_data_dump,
)
from neops_worker.blocks.context import WorkflowContext
from neops_worker.blocks.lenient import parse_leniently
from neops_worker.blocks.meta import JobMeta
from neops_worker.discovery import DiscoveredBlock
from neops_worker.engine.wire import JOB_TYPES, JobDefinition, JobExecutionResult, JobResult, failed_result
from neops_worker.errors import describe_errors
from neops_worker.scrub import (
    add_job_secrets,
    job_secret_values,
    job_secrets,
    scrub,
    scrub_data,
    secret_values,
)
from neops_worker.worker.outcome import JobOutcome, Outcome

log = logging.getLogger("neops_worker.job")


class JobInputError(Exception):
    """The job cannot be started: unknown type, invalid parameters or context, no rollback to run.

    Every attempt of the job would be refused alike: its failed result says ``retryable: false``.
    """

    retryable: bool | None = False


class BlockUnavailable(JobInputError):
    """The job's block is not served by this worker; another worker may serve it (no ``retryable``)."""

    retryable = None


class JobTimeoutError(Exception):
    """The block ran out of time (``JOB_TIMEOUT``); ``pending`` settles when its thread returns."""

    def __init__(self, message: str, pending: asyncio.Future[Any] | None = None) -> None:
        super().__init__(message)
        self.pending = pending


class ResultError(Exception):
    """The block's return value breaks its contract (wrong type, data its result model refuses).

    The message says what is wrong, in the block's terms; the traceback would show only the worker.
    """


class JobAborted(BaseException):
    """The worker is stopping the job in hand (it was killed); it has no result of its own."""


BlockLookup = Callable[[str], DiscoveredBlock | None]
#: Runs one entry point of a block (``run``, ``acquire`` or ``rollback``) to its value.
BlockCaller = Callable[[Callable[[], Any]], Awaitable[Any]]


async def execute_job(
    job: JobDefinition,
    lookup: BlockLookup,
    *,
    job_timeout: float = 0,
    timeout_text: str | None = None,
    inline: bool = False,
    worker_id: str | None = None,
    worker_name: str | None = None,
    deadline: float | None = None,
) -> JobOutcome:
    """Run ``job`` to a result. Never raises (but for cancellation of the caller or ``JobAborted``).

    ``inline`` runs the block on the calling thread (a job process has nothing else to do);
    otherwise it runs on a job thread within ``job_timeout`` (0 = none), and a job that runs out
    of time fails "Job exceeded ``timeout_text`` and was abandoned" (by default, ``JOB_TIMEOUT of
    N s``; the worker says where its limit came from, ``Settings.job_timeout_text``). A block that
    declares the job meta gets ``worker_id``, ``worker_name`` and ``deadline`` in it (a monotonic
    time; by default ``job_timeout`` from now, None without a limit).
    """
    started = time.perf_counter()
    call = _caller(job, inline, job_timeout, timeout_text)
    if deadline is None and not inline:
        deadline = time.monotonic() + job_timeout if job_timeout else None
    meta_of = partial(job_meta, job, worker_id, worker_name, deadline)
    pending: asyncio.Future[Any] | None = None
    with job_secrets(job_secret_values(job)):
        try:
            result, outcome = await _execute(job, lookup, call, meta_of)
        except JobTimeoutError as exc:
            log.error("Job %s timed out: %s", job.job_id, exc)
            result, outcome, pending = failed_result(job.job_id, str(exc)), "timeout", exc.pending
        except (JobAborted, asyncio.CancelledError):
            raise
        except BaseException as exc:  # nothing a block raises leaves here, SystemExit included
            result, outcome = _failure(job, exc)
        result = scrubbed(result)
    return JobOutcome(result, outcome, time.perf_counter() - started, pending)


def _caller(job: JobDefinition, inline: bool, job_timeout: float, timeout_text: str | None) -> BlockCaller:
    """How the job's block is called: on this thread, or on a job thread within ``job_timeout``."""
    if inline:
        return call_inline
    text = timeout_text or f"JOB_TIMEOUT of {job_timeout:g} s"
    return partial(run_block, timeout=job_timeout, job_id=job.job_id, text=text)


def job_meta(
    job: JobDefinition, worker_id: str | None, worker_name: str | None, deadline: float | None
) -> JobMeta:
    """The ``JobMeta`` a block that declares it receives for ``job``."""
    return JobMeta(
        job_id=job.job_id,
        function_block_id=job.function_block_id,
        job_type=job.type,
        step_label=job.step_label,
        run_on=job.run_on or "global",
        entity_id=job.entity_id,
        worker_id=worker_id,
        worker_name=worker_name,
        deadline=deadline,
    )


def _failure(job: JobDefinition, exc: BaseException) -> tuple[JobResult, Outcome]:
    """The failed result (and log line) of an exception that ended the job."""
    if isinstance(exc, JobInputError):
        # Said once where it is seen: the worker's "Job … finished: rejected" line, exec's error line.
        log.debug("Job %s rejected: %s", job.job_id, exc)
        return failed_result(job.job_id, str(exc), retryable=exc.retryable), "rejected"
    if isinstance(exc, PermanentFailure):  # the block's verdict, raised: a failed result, not an error
        return failed_result(job.job_id, str(exc) or _message(None, False), retryable=False), "failed"
    if isinstance(exc, ResultError):
        log.error("Job %s: %s", job.job_id, exc)
        return failed_result(job.job_id, str(exc)), "error"
    if isinstance(exc, SystemExit):
        code = "" if exc.code is None else repr(exc.code)
        log.error("Job %s: the block called sys.exit(%s)", job.job_id, code, exc_info=_from_the_block(exc))
        return failed_result(job.job_id, f"The function block called sys.exit({code})"), "exited"
    log.error("Job %s raised %s: %s", job.job_id, type(exc).__name__, exc, exc_info=_from_the_block(exc))
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return failed_result(job.job_id, text), "error"


def scrubbed(result: JobResult) -> JobResult:
    """``result`` with the job's secrets taken out of its message and its data."""
    message, data = result.result.message, result.result.data
    clean, clean_data = (scrub(message) if message else message), scrub_data(data)
    if clean == message and clean_data == data:
        return result
    inner = result.result.model_copy(update={"message": clean, "data": clean_data})
    return result.model_copy(update={"result": inner})


def _from_the_block(exc: BaseException) -> BaseException:
    """``exc`` with its traceback starting in the block's code, not in the worker's plumbing."""
    tb = exc.__traceback__
    while tb is not None and _is_plumbing(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    return exc.with_traceback(tb) if tb is not None else exc


def _is_plumbing(filename: str) -> bool:
    return filename == __file__ or f"{os.sep}asyncio{os.sep}" in filename or filename.endswith("threading.py")


async def _execute(
    job: JobDefinition, lookup: BlockLookup, call: BlockCaller, meta_of: Callable[[], JobMeta]
) -> tuple[JobResult, Outcome]:
    block = _block_for(job, lookup)
    instance, calls = block.cls(), block.calls
    if job.type == "acquire":
        acquire_params = parse_params_leniently(block, job.parameters)
        add_job_secrets(secret_values(acquire_params.partial))
        values = {"params": instance.acquire_input(acquire_params)}
        values["meta"] = meta_of() if calls.acquire.wants_meta else None
        acquired = await call(partial(calls.acquire.invoke, instance.acquire, values))
        return _acquire_result(job, acquired)
    params = parse_params(block, job.parameters)
    add_job_secrets(secret_values(params))
    context = build_context(job)
    values = {"params": params, "context": context, "result_from_failed": None}
    if job.type == "rollback":
        values["meta"] = meta_of() if calls.rollback.wants_meta else None
        rolled = await call(partial(calls.rollback.invoke, instance.rollback, values))
        return _rollback_result(job, rolled)
    values["meta"] = meta_of() if calls.run.wants_meta else None
    ran = await call(partial(calls.run.invoke, instance.run, values))
    return _execute_result(job, block, ran, context)


# --- inputs -------------------------------------------------------------------------------


def _block_for(job: JobDefinition, lookup: BlockLookup) -> DiscoveredBlock:
    """The block that runs ``job``, once the job is one it can run."""
    block = lookup(job.function_block_id)
    if block is None:
        raise BlockUnavailable(f"Function block {job.function_block_id} is not available on this worker")
    if job.type not in JOB_TYPES:
        raise JobInputError(f"Unknown job type {job.type!r} (expected one of {', '.join(JOB_TYPES)})")
    if job.type == "rollback" and not implements_rollback(block.cls):
        # Answered without calling the block: its base class's rollback only refuses.
        raise JobInputError(f"Function block {block.fb_id} does not implement rollback; nothing was undone")
    if block.calls.problems:  # a block that did not come through discovery, which refuses it
        raise JobInputError(
            f"Function block {block.fb_id} cannot be called: " + "; ".join(map(str, block.calls.problems))
        )
    return block


def param_model(block: DiscoveredBlock) -> type[BaseModel]:
    """The block's parameter model."""
    return block.registration.param_cls or FunctionBlockParams


def parse_params(block: DiscoveredBlock, parameters: dict[str, Any]) -> BaseModel:
    """Validate an execute or rollback job's parameters strictly; unknown keys only warn."""
    model = param_model(block)
    try:
        params = model.model_validate(parameters)
    except ValidationError as exc:
        raise JobInputError(f"Invalid parameters for {block.fb_id}: {describe_errors(exc)}") from None
    unknown = sorted(set(parameters) - set(model.model_fields))
    if unknown and model.model_config.get("extra") != "allow":
        log.warning("Parameters the block does not declare were ignored: %s", ", ".join(unknown))
    return params


def parse_params_leniently(block: DiscoveredBlock, parameters: dict[str, Any]) -> AcquireParams[Any]:
    """An acquire job's parameters: unresolved (absent, null or invalid) fields keep their default or None."""
    partial, unresolved = parse_leniently(param_model(block), parameters)
    if unresolved:
        log.info("Parameters not resolved yet at acquire: %s", ", ".join(sorted(unresolved)))
    if isinstance(partial, FunctionBlockParams):
        partial._unresolved = unresolved
    return AcquireParams(partial=partial, unresolved=unresolved, raw=dict(parameters))


def build_context(job: JobDefinition) -> WorkflowContext:
    """The job's ``WorkflowContext``, checked to contain the run-on entity."""
    try:
        context = WorkflowContext.from_wire(
            job.context.model_dump(by_alias=True), job.run_on or "global", job.entity_id
        )
    except ValidationError as exc:
        raise JobInputError(f"Invalid job context: {describe_errors(exc)}") from None
    try:
        context.validate_run_on()
    except LookupError as exc:
        raise JobInputError(f"Invalid job context: {exc}") from None
    return context


# --- running off the loop -----------------------------------------------------------------


class _JobThreads:
    """Daemon threads that run block calls, reused from job to job.

    Starting a thread per job costs about a millisecond of hand-over; reusing idle ones does not.
    A thread still busy with an abandoned (timed-out) job is simply not idle, so the next job gets
    another thread. Daemon threads, unlike an executor's, never hold up the exit of a worker that
    had to abandon a job.
    """

    def __init__(self) -> None:
        self._idle: list[queue.SimpleQueue[Callable[[], None]]] = []
        self._lock = threading.Lock()

    def submit(self, call: Callable[[], None], name: str) -> None:
        """Run ``call`` on an idle thread, or on a new one."""
        with self._lock:
            inbox = self._idle.pop() if self._idle else None
        if inbox is None:
            inbox = queue.SimpleQueue()
            thread = threading.Thread(target=self._serve, args=(inbox,), name=name, daemon=True)
            thread.start()
        inbox.put(partial(self._named, call, name))

    @staticmethod
    def _named(call: Callable[[], None], name: str) -> None:
        threading.current_thread().name = name
        call()

    def _serve(self, inbox: queue.SimpleQueue[Callable[[], None]]) -> None:
        while True:
            inbox.get()()
            with self._lock:
                self._idle.append(inbox)


_JOB_THREADS = _JobThreads()


class _BlockThread:
    """One call of a block off the event loop; an async block gets its own event loop there."""

    def __init__(self, call: Callable[[], Any], name: str, timeout_text: str) -> None:
        self._call = call
        self._name = name
        self._timeout_text = timeout_text
        self._thread_loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None

    async def run(self, timeout: float) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        context = contextvars.copy_context()
        _JOB_THREADS.submit(partial(context.run, self._target, loop, future), self._name)
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout or None)
        except TimeoutError:
            self.cancel()
            message = f"Job exceeded {self._timeout_text} and was abandoned"
            raise JobTimeoutError(message, future) from None

    def cancel(self) -> None:
        """Cancel an async block's task; a sync block cannot be stopped and is left to finish."""
        loop, task = self._thread_loop, self._task
        if loop is not None and task is not None and not loop.is_closed():
            loop.call_soon_threadsafe(task.cancel)
        else:
            log.warning(
                "The timed-out block runs synchronously and cannot be stopped; its thread is abandoned"
            )

    def _target(self, loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any]) -> None:
        try:
            value = self._call()
            if inspect.isawaitable(value):
                value = asyncio.run(self._await(value))
        except BaseException as exc:
            _deliver(loop, future, None, exc)
        else:
            _deliver(loop, future, value, None)

    async def _await(self, awaitable: Any) -> Any:
        self._thread_loop = asyncio.get_running_loop()
        self._task = asyncio.ensure_future(awaitable)
        return await self._task


def _deliver(
    loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], value: Any, exc: BaseException | None
) -> None:
    def settle() -> None:
        if future.done():
            return
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(value)

    # If the worker's loop is gone (the job was abandoned at shutdown), nobody waits any more.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(settle)


async def run_block(call: Callable[[], Any], timeout: float, job_id: str, text: str) -> Any:
    """Run a block entry point (sync or async) off the event loop, within ``timeout`` (0 = none).

    Past ``timeout``, ``JobTimeoutError`` says the job exceeded ``text`` (where the limit came from).
    """
    return await _BlockThread(call, f"job-{job_id}", text).run(timeout)


async def call_inline(call: Callable[[], Any]) -> Any:
    """Run a block entry point on this thread; an async one on the running loop."""
    value = call()
    if inspect.isawaitable(value):
        value = await value
    return value


def run_coroutine(factory: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run an ``async`` helper to completion from synchronous code (used by the testing kit)."""
    return asyncio.run(factory())


# --- results ------------------------------------------------------------------------------


def _message(value: Any, success: bool) -> str:
    message = getattr(value, "message", "") or ""
    return message or ("Function block succeeded" if success else "Function block failed")


def _execute_result(
    job: JobDefinition, block: DiscoveredBlock, value: Any, context: WorkflowContext
) -> tuple[JobResult, Outcome]:
    if not isinstance(value, FunctionBlockResult):
        raise ResultError(f"run() returned {type(value).__name__}, expected FunctionBlockResult")
    data = _checked_data(block, value.data)
    if value.success and data is None:
        _require_data(block)
    updates = context.db_updates() if value.success else None
    result = JobExecutionResult(
        success=value.success,
        message=_message(value, value.success),
        data=data,
        db_updates=updates if updates and updates.updates else None,
        retryable=_retryable(value),
    )
    return _wrap(job, result), "success" if value.success else "failed"


def _checked_data(block: DiscoveredBlock, data: Any) -> dict[str, Any] | None:
    dumped = result_data_dump(data)
    result_cls = block.registration.result_cls
    if dumped is None or result_cls is None:
        return dumped
    try:
        return result_cls.model_validate(dumped).model_dump(mode="json")
    except ValidationError as exc:
        raise ResultError(
            f"result data does not match {result_cls.__name__}: {describe_errors(exc)}"
        ) from None


def _require_data(block: DiscoveredBlock) -> None:
    """A success without data, refused when the result model has required fields (the engine expects them)."""
    result_cls = block.registration.result_cls
    fields = result_cls.model_fields if result_cls is not None else {}
    required = [name for name, spec in fields.items() if spec.is_required()]
    if result_cls is not None and required:
        raise ResultError(
            f"run() returned success without data, but {result_cls.__name__} requires {', '.join(required)}"
        )


def _acquire_result(job: JobDefinition, value: Any) -> tuple[JobResult, Outcome]:
    if not isinstance(value, FunctionBlockAcquireResult):
        raise ResultError(f"acquire() returned {type(value).__name__}, expected FunctionBlockAcquireResult")
    result = JobExecutionResult(
        success=value.success, message=_message(value, value.success), retryable=_retryable(value)
    )
    wrapped = _wrap(job, result)
    if value.success and value.acquires:
        wrapped = wrapped.model_copy(update={"acquires": list(value.acquires)})
    return wrapped, "success" if value.success else "failed"


def _rollback_result(job: JobDefinition, value: Any) -> tuple[JobResult, Outcome]:
    if not isinstance(value, FunctionBlockRollbackResult):
        raise ResultError(f"rollback() returned {type(value).__name__}, expected FunctionBlockRollbackResult")
    result = JobExecutionResult(
        success=value.success, message=_message(value, value.success), retryable=_retryable(value)
    )
    return _wrap(job, result), "success" if value.success else "failed"


def _retryable(
    value: FunctionBlockResult[Any] | FunctionBlockAcquireResult | FunctionBlockRollbackResult,
) -> bool | None:
    """What a block's result says of a retry: only a failure carries it."""
    return None if value.success else value.retryable


def _wrap(job: JobDefinition, result: JobExecutionResult) -> JobResult:
    return JobResult(
        job_execution_id=job.job_id, status="success" if result.success else "failed", result=result
    )
