"""``JOB_ISOLATION=thread``: blocks run in the daemon's own process, on a job thread.

For small hosts: no second process, the smallest memory. What it cannot do: a block that hangs
cannot be stopped (its time limit, ``JOB_TIMEOUT`` or else what the engine's stuck-job timeout
leaves, reports the job failed and abandons its thread; the next job
waits until the thread returns, so two jobs never run at once), a block that crashes the
interpreter takes the worker down, and memory a block keeps stays for the worker's life.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from types import TracebackType
from typing import Any

from neops_worker.discovery import DiscoveredBlock
from neops_worker.engine.wire import JobDefinition, RegisterFunctionBlock
from neops_worker.observability import worker_identity
from neops_worker.registry import Registry, registration_body
from neops_worker.settings import Settings
from neops_worker.worker.execution import execute_job
from neops_worker.worker.outcome import JobOutcome
from neops_worker.worker.runner import Catalog, report_problems

log = logging.getLogger("neops_worker.worker")


def load_registry(settings: Settings, on_found: Callable[[DiscoveredBlock], None] | None = None) -> Registry:
    """Discover the blocks of ``DIR_FUNCTION_BLOCKS``; broken modules are fatal unless skipped."""
    from neops_worker.discovery import discover
    from neops_worker.errors import DiscoveryError

    report = discover(settings.dir_function_blocks, on_found)
    problems = [(str(p), p.detail) for p in report.problems]
    try:
        registry = Registry.from_report(report, skip_broken=settings.skip_broken_modules)
    except DiscoveryError as exc:
        report_problems(problems, settings.skip_broken_modules, exc.problems)
        raise
    report_problems(problems, settings.skip_broken_modules, None)
    return registry


class ThreadRunner:
    """Runs each job on a job thread of the daemon (see the module's docstring for the limits)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._registry: Registry | None = None
        self._pending: asyncio.Future[Any] | None = None
        self._pending_job = ""

    async def __aenter__(self) -> ThreadRunner:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    async def catalog(self, found: Callable[[RegisterFunctionBlock], None] | None = None) -> Catalog:
        """Discover in this process, off the event loop (the engine is met meanwhile)."""
        loop = asyncio.get_running_loop()
        bodies: list[RegisterFunctionBlock] = []

        def on_found(block: DiscoveredBlock) -> None:  # on the discovery thread
            body = registration_body(block, None)
            bodies.append(body)
            if found is not None:
                loop.call_soon_threadsafe(found, body)

        self._registry = await asyncio.to_thread(load_registry, self.settings, on_found)
        return Catalog(bodies)

    async def run(self, job: JobDefinition) -> JobOutcome:
        """Run the job on a job thread within its time limit (``Settings.effective_job_timeout``)."""
        assert self._registry is not None
        limit, text = self.settings.effective_job_timeout, self.settings.job_timeout_text()
        worker_id, worker_name = worker_identity()
        outcome = await execute_job(
            job,
            self._registry.get,
            job_timeout=limit,
            timeout_text=text,
            worker_id=worker_id,
            worker_name=worker_name,
        )
        if outcome.pending is not None and not outcome.pending.done():
            self._pending, self._pending_job = outcome.pending, job.job_id
        return outcome

    async def ready(self) -> None:
        """Wait for the thread of a timed-out block: never two jobs at once."""
        pending, self._pending = self._pending, None
        if pending is None or pending.done():
            return
        log.warning(
            "The block of timed-out job %s is still running; no new job until it returns", self._pending_job
        )
        await asyncio.wait({pending})
        log.info("The block of timed-out job %s returned; taking jobs again", self._pending_job)

    def is_ready(self) -> bool:
        """No block of a timed-out job is still running."""
        return self._pending is None or self._pending.done()

    def wedged(self) -> str | None:
        """A thread runner is never wedged on its own account."""
        return None
