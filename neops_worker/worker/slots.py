"""One daemon, N job slots: N ``Worker`` lifecycles over one template, engine client and set of observers.

Each slot is a worker of its own in the engine's eyes (its own registration and id, name
``<WORKER_NAME>-<i>`` when there are several, heartbeat and poll loop, one job at a time) and runs
its jobs in job processes of its own, all forked from the daemon's one template (``TemplateHost``):
the blocks are imported once. A crash, kill, timeout or recycle in one slot touches that slot alone;
an engine that forgets one slot gets that slot registered again, alone. A stop request goes to every
slot at once (each drains its own job), and a slot that cannot serve any more (a licence refusal)
stops the others the same way. The log lines of a slot's tasks carry ``slot`` (when there are
several) and that slot's own ``worker_id``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable, Sequence

from neops_worker.engine.client import EngineClient
from neops_worker.errors import NeopsWorkerError
from neops_worker.observability import slot_context
from neops_worker.settings import Settings
from neops_worker.worker.burst import ClaimBudget, IdleWatch
from neops_worker.worker.events import REGISTERED_STATES, Observers, WorkerObserver
from neops_worker.worker.lifecycle import SAME_REQUEST_S, StopSignals, Worker
from neops_worker.worker.runner import JobRunner

log = logging.getLogger("neops_worker.worker")

#: Makes slot ``i``'s job runner, reporting to that slot's observers.
RunnerFactory = Callable[[int, WorkerObserver], JobRunner]


def slot_name(settings: Settings, number: int) -> str | None:
    """Slot ``number``'s name: ``<WORKER_NAME>-<i>`` (the host's name if unset) when there are several."""
    if settings.worker_slots == 1:
        return settings.worker_name
    return f"{settings.worker_name or socket.gethostname()}-{number}"


class Slots:
    """The daemon's slots, served together: see the module's docstring."""

    def __init__(
        self,
        settings: Settings,
        client: EngineClient,
        make_runner: RunnerFactory,
        *,
        version: str,
        observers: Sequence[WorkerObserver] = (),
        slot_observer: Callable[[int], WorkerObserver] | None = None,
    ) -> None:
        self.settings = settings
        self.idle = IdleWatch(settings.exit_when_idle) if settings.exit_when_idle else None
        shared = [*observers, *([self.idle] if self.idle else [])]
        budget = ClaimBudget(settings.max_jobs, self._spent) if settings.max_jobs else None
        self.workers: list[Worker] = []
        for number in range(1, settings.worker_slots + 1):
            own = [slot_observer(number)] if slot_observer else []
            slot_observers = Observers([*shared, *own])
            self.workers.append(
                Worker(
                    settings.model_copy(update={"worker_name": slot_name(settings, number)}),
                    client,
                    make_runner(number, slot_observers),
                    version=version,
                    observers=slot_observers,
                    budget=budget,
                )
            )
        self._signals = StopSignals()
        self._stopping = False
        #: Why the daemon stopped itself (MAX_JOBS, EXIT_WHEN_IDLE, a slot's error); None: it did not.
        self._why: str | None = None

    @property
    def several(self) -> bool:
        """More than one slot: log lines name theirs."""
        return len(self.workers) > 1

    @property
    def stopping(self) -> bool:
        """A stop was requested (of every slot, or of the only one)."""
        return self._stopping or all(worker.stopping for worker in self.workers)

    def registered(self) -> int:
        """How many slots are registered with the engine now."""
        return sum(1 for w in self.workers if w.worker_id is not None and w.state in REGISTERED_STATES)

    @contextlib.asynccontextmanager
    async def runners(self) -> AsyncIterator[None]:
        """Every slot's job runner entered (after the shared template), left in reverse."""
        async with contextlib.AsyncExitStack() as stack:
            for worker in self.workers:
                await stack.enter_async_context(worker.runner)
            yield

    # --- requests from outside --------------------------------------------------------------

    def request_stop(self, reason: str = "SIGTERM") -> None:
        """The first request: every slot drains (one draining already goes on). One within
        ``SAME_REQUEST_S`` of it is the same request delivered again; a later one: every slot gives up
        its job in hand.
        """
        if self._signals.first is None:
            self._signals.first = (reason, time.monotonic())
            self._stopping = True
            if self._why or any(worker.stopping for worker in self.workers):
                why = f" ({self._why})" if self._why else ""
                log.info("Received %s: already draining%s; a second one stops at once", reason, why)
            elif self.several:
                log.info("Received %s. Shutting down %d slots...", reason, len(self.workers))
            for worker in self.workers:
                if not worker.stopping:
                    worker.request_stop(reason, announced=self.several)
            return
        repeated = self._signals.repeat_of_first(reason)
        if repeated is not None:
            log.info("%s within %g s: the same stop request, still draining", repeated, SAME_REQUEST_S)
            return
        for worker in self.workers:
            worker.request_stop(reason, second=True)

    def _stop_quietly(self, reason: str) -> None:
        """Stop every slot for a reason logged already (burst mode's end, a slot that cannot serve)."""
        self._why = self._why or reason
        self._stopping = True
        for worker in self.workers:
            if not worker.stopping:
                worker.request_stop(reason, announced=True)

    def _spent(self) -> None:
        self._stop_quietly("MAX_JOBS")

    # --- the life ---------------------------------------------------------------------------

    async def serve(self) -> None:
        """Serve every slot until stopped; raises the first slot's error once all have stopped."""
        if self.several:
            names = ", ".join(str(w.settings.worker_name) for w in self.workers)
            log.info("Serving %d slots from one template: %s", len(self.workers), names)
        tasks = [self._start(number, worker) for number, worker in enumerate(self.workers, 1)]
        watch = asyncio.ensure_future(self._watch_idle())
        try:
            failure = await self._until_all_end(tasks)
        finally:
            watch.cancel()
        if failure is not None:
            raise failure

    def _start(self, number: int, worker: Worker) -> asyncio.Task[None]:
        if not self.several:
            return asyncio.ensure_future(worker.serve())
        context = slot_context(number, worker.settings.worker_name)
        return asyncio.get_running_loop().create_task(worker.serve(), context=context)

    async def _until_all_end(self, tasks: list[asyncio.Task[None]]) -> BaseException | None:
        """Wait for every slot; the first to fail stops the others. Returns that first error."""
        failure: BaseException | None = None
        pending: set[asyncio.Task[None]] = set(tasks)
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                error = task.exception()
                if error is None or failure is not None:
                    continue
                failure = error
                if pending and isinstance(error, NeopsWorkerError):
                    log.warning("Stopping every slot: slot %d cannot serve", tasks.index(task) + 1)
                self._stop_quietly("another slot's error")
        return failure

    async def _watch_idle(self) -> None:
        if self.idle is not None:
            await self.idle.watch()
            self._stop_quietly("EXIT_WHEN_IDLE")
