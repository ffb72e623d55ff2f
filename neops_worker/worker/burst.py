"""Burst mode, for Kubernetes Jobs, KEDA ScaledJobs and cron: a daemon that ends when its work does.

``MAX_JOBS`` (``ClaimBudget``): the slots together take at most N jobs. A slot reserves one before
each poll (a poll claims at most one job) and gives the reservation back when the poll claimed
nothing, so no slot claims a job beyond the budget however many poll at once; once N jobs have run,
the daemon drains and stops. ``EXIT_WHEN_IDLE`` (``IdleWatch``): once no slot has had a job for S
seconds (counted from the first slot's registration, then from the last job's end), the daemon
unregisters and stops. Both stops are the ordinary drain, and the daemon exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from neops_worker.worker.events import WorkerObserver

log = logging.getLogger("neops_worker.worker")


class ClaimBudget:
    """``MAX_JOBS``: how many jobs all slots may still claim; ``on_spent`` once all of them ran."""

    def __init__(self, limit: int, on_spent: Callable[[], None]) -> None:
        self.limit = limit
        self._on_spent = on_spent
        #: Jobs claimed, or reserved by a poll on its way.
        self.taken = 0
        #: Jobs run to a result.
        self.done = 0

    def reserve(self) -> bool:
        """Reserve one job for the next poll; False while the budget is spoken for."""
        if self.taken >= self.limit:
            return False
        self.taken += 1
        return True

    def settle(self, claimed: int) -> None:
        """The poll behind a reservation claimed ``claimed`` jobs (0 or 1): an empty one gives it back."""
        self.taken += claimed - 1

    def ran(self, jobs: int) -> None:
        """``jobs`` claimed jobs ended; the last of the budget ends the daemon's work."""
        self.done += jobs
        if self.done >= self.limit:
            log.info("Ran %d job(s), MAX_JOBS (%d); draining and stopping", self.done, self.limit)
            self._on_spent()


class IdleWatch(WorkerObserver):
    """``EXIT_WHEN_IDLE``: observes every slot's jobs; ``watch`` returns once all were idle long enough."""

    def __init__(self, idle_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.idle_s = idle_s
        self.clock = clock
        self.busy = 0
        #: Since when no slot has a job; None until the first slot is registered.
        self.idle_since: float | None = None
        #: Set at every job's start and end: the time left is counted again.
        self._changed = asyncio.Event()

    def ready(self, worker_id: str) -> None:
        """A slot is registered: the idle time counts from the first."""
        if self.idle_since is None:
            self.idle_since = self.clock()
            self._changed.set()
        self._changed.set()

    def job_started(self, job_id: str, function_block: str, job_type: str) -> None:
        """One more slot busy."""
        self.busy += 1
        self._changed.set()

    def job_finished(
        self, job_id: str, function_block: str, job_type: str, outcome: str, duration_s: float
    ) -> None:
        """One slot fewer busy; the idle time counts from now."""
        self.busy -= 1
        self.idle_since = self.clock()

    def idle_for(self) -> float:
        """Seconds no slot has had a job (0 while one runs, or before registration)."""
        if self.busy or self.idle_since is None:
            return 0.0
        return self.clock() - self.idle_since

    async def watch(self) -> None:
        """Return once every slot has been idle for ``idle_s`` seconds."""
        while (remaining := self.idle_s - self.idle_for()) > 0:
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        log.info("No job in any slot for %g s (EXIT_WHEN_IDLE); draining and stopping", self.idle_s)
