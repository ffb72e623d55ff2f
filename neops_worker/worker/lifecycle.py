"""The worker's whole life: ``serve()`` -> ``startup()`` -> ``main_loop()`` -> ``shutdown()``.

States: starting -> registered -> idle <-> busy -> draining -> stopped, one log line each.
A stop is a request (``request_stop``) that sets an event; a second one escalates. A signal that
comes again within ``SAME_REQUEST_S`` of the first is that same request delivered twice (``uv
run`` forwards the SIGTERM its process group also got straight away), not a second one. A part that
meets an error the worker cannot serve on (a licence refusal while registering again) stops it the
same way, and ``serve`` raises that error once the drain is done.

The ``Worker`` keeps the phases and the drain order; its parts do the work: ``Membership`` (the
version check, the worker's and its blocks' registration, unregistering), ``Heartbeat`` (pings,
expiry, registering again) and ``JobLoop`` (poll, run, push).
"""

from __future__ import annotations

import asyncio
import logging
import time

from neops_worker.engine.client import EngineClient
from neops_worker.engine.wire import RegisterFunctionBlock
from neops_worker.errors import NeopsWorkerError, ShutdownTimeoutError
from neops_worker.observability import current_slot
from neops_worker.settings import Settings
from neops_worker.worker._tasks import both, cancel, first_of
from neops_worker.worker.burst import ClaimBudget
from neops_worker.worker.events import Observers, WorkerState
from neops_worker.worker.heartbeat import Heartbeat
from neops_worker.worker.jobs import JobLoop
from neops_worker.worker.membership import Membership
from neops_worker.worker.runner import JobRunner

log = logging.getLogger("neops_worker.worker")

#: A stop signal this soon after the first is the same request delivered twice, not a second one.
SAME_REQUEST_S = 1.0


class StopSignals:
    """The stop requests from outside so far: the first (its signal, when), and a second one."""

    def __init__(self) -> None:
        self.first: tuple[str, float] | None = None
        #: The signal of the second request, which cut the drain short; None until one came.
        self.second: str | None = None

    def repeat_of_first(self, reason: str) -> str | None:
        """``SIGTERM again`` (or ``SIGINT after SIGTERM``) for the first request delivered once more.

        None when ``reason`` is a request of its own: it came ``SAME_REQUEST_S`` or more after the
        first, or there was no first (the worker stopped itself).
        """
        if self.first is None or time.monotonic() - self.first[1] >= SAME_REQUEST_S:
            return None
        name = self.first[0]
        return f"{reason} again" if reason == name else f"{reason} after {name}"


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
        budget: ClaimBudget | None = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.runner = runner
        self.observers = observers or Observers()
        self.state = WorkerState.STARTING
        self._stop = asyncio.Event()
        self._force = asyncio.Event()
        self._signals = StopSignals()
        #: An error a part met that ends the worker; raised by ``serve`` after the drain.
        self._failure: NeopsWorkerError | None = None
        self.membership = Membership(settings, client, version)
        self.jobs = JobLoop(
            settings,
            client,
            runner,
            self.membership,
            observer=self.observers,
            stop=self._stop,
            on_state=self._set_state,
            budget=budget,
        )
        self.heartbeat = Heartbeat(
            settings,
            client,
            self.membership,
            observer=self.observers,
            stop=self._stop,
            doing=self.jobs.doing,
            on_fatal=self._fail,
        )

    @property
    def worker_id(self) -> str | None:
        """The id the engine knows this worker by; None before registration and while registering again."""
        return self.membership.worker_id

    @property
    def current_job(self) -> str | None:
        """The id of the job in hand (still set if it was abandoned)."""
        return self.jobs.current_job

    # --- requests from outside --------------------------------------------------------------

    def request_stop(self, reason: str = "SIGTERM", *, announced: bool = False, second: bool = False) -> None:
        """First call: drain and stop. A second call: give up on the job in hand.

        A call within ``SAME_REQUEST_S`` of the first is the first request delivered again.
        ``announced``: the daemon said it already (one line for all its slots); ``second``: the
        daemon has told this request from the first already.
        """
        if not self._stop.is_set():
            self._signals.first = (reason, time.monotonic())
            if not announced:
                log.info("Received %s. Shutting down...", reason)
            self._stop.set()
            return
        repeated = None if second else self._signals.repeat_of_first(reason)
        if repeated is not None:
            log.info("%s within %g s: the same stop request, still draining", repeated, SAME_REQUEST_S)
            return
        log.warning(
            "Received %s again: a second stop request; stopping now, abandoning %s", reason, self.jobs.doing()
        )
        self._signals.second = self._signals.second or reason
        self._force.set()

    @property
    def stopping(self) -> bool:
        """A stop was requested."""
        return self._stop.is_set()

    def _fail(self, error: NeopsWorkerError) -> None:
        """A part cannot go on (its reason logged already): drain and stop as for a signal, then raise."""
        self._failure = error
        if not self._stop.is_set():
            log.warning(
                "Shutting down: the worker cannot serve any more; finishing %s first", self.jobs.doing()
            )
            self._stop.set()

    # --- the life ---------------------------------------------------------------------------

    async def serve(self) -> None:
        """Start, work until asked to stop, drain and stop.

        Raises if the drain did not finish, or the error that stopped the worker (``_fail``).
        """
        try:
            await self._serve()
        except ShutdownTimeoutError:
            if self._failure is None:
                raise
        if self._failure is not None:
            raise self._failure

    async def _serve(self) -> None:
        startup = asyncio.ensure_future(self.startup())
        if not await first_of(startup, self._stop.wait()):
            log.warning("Stop requested during start-up; not taking any job")
            await cancel(startup)
            await self._stop_visible_parts()
            return
        try:
            startup.result()
        except BaseException:
            # Registered but unable to serve (a block was refused): leave the engine's view clean.
            await self._stop_visible_parts()
            raise
        loop = asyncio.ensure_future(self.main_loop())
        await first_of(loop, self._stop.wait())
        await self.shutdown(loop)

    async def startup(self) -> None:
        """Discovery beside version check, worker registration and heartbeat; then the blocks: ready."""
        log.info("NEOPS Worker starting...")
        # Discovery (in the template process, or a thread) needs no engine, and meeting the engine
        # needs no block: both at once, so the first request goes out before the blocks are imported,
        # and each block is registered as soon as it is found and the worker has its id.
        arriving: asyncio.Queue[RegisterFunctionBlock | None] = asyncio.Queue()
        await both(self._discover(arriving), self._join(arriving))
        self._set_state(WorkerState.REGISTERED, f"registered as {self.worker_id}")
        self.membership.set_registered()
        self.observers.ready(self.worker_id or "")
        self._set_state(WorkerState.IDLE, "idle")

    async def main_loop(self) -> None:
        """Poll, run, push, repeat, until a stop is requested."""
        await self.jobs.run()

    async def shutdown(self, loop: asyncio.Future[None]) -> None:
        """Drain in a fixed order; raises ``ShutdownTimeoutError`` if the job in hand was abandoned."""
        self._set_state(WorkerState.DRAINING, f"draining: {self.jobs.doing()}")
        # 1. No more polls (the stop event is set); 2. the job in hand finishes and its result is pushed.
        drained = await self._drain(loop)
        # 3. Only now stop the heartbeat: a silent worker would have its job failed by the engine.
        # 4. Unregister, so the engine stops counting on this worker.
        await self._stop_visible_parts()
        if not drained:
            raise ShutdownTimeoutError(f"{self._cut_short_by()}: abandoned {self.jobs.doing()}")

    # --- startup steps ------------------------------------------------------------------------

    async def _discover(self, arriving: asyncio.Queue[RegisterFunctionBlock | None]) -> None:
        self.membership.catalog = catalog = await self.runner.catalog(arriving.put_nowait)
        # The end, only after a discovery that succeeded: after one that failed, the registration
        # is left waiting and is cancelled.
        arriving.put_nowait(None)
        level = logging.INFO if current_slot() in (None, 1) else logging.DEBUG  # once for all slots
        log.log(
            level,
            "Found %d function block(s); jobs run in %s mode",
            len(catalog),
            self.settings.job_isolation,
        )

    async def _join(self, arriving: asyncio.Queue[RegisterFunctionBlock | None]) -> None:
        # Before the first request, and here so that the discovery begun beside it is cancelled, not
        # left failing unheard: a block directory that cannot be read is bad configuration (exit 2).
        self.settings.check_block_directories()
        await self.membership.check_engine()
        await self.membership.register_worker()
        self.heartbeat.start()
        await self.membership.register_blocks(arriving)

    # --- shutdown steps --------------------------------------------------------------------------

    async def _drain(self, loop: asyncio.Future[None]) -> bool:
        timeout = self.settings.shutdown_timeout
        finished = await first_of(
            asyncio.ensure_future(asyncio.wait_for(asyncio.shield(loop), timeout)),
            self._force.wait(),
            swallow=True,
        )
        if finished and loop.done() and not loop.cancelled():
            loop.result()
            return True
        why = (
            f"a second {self._signals.second}"
            if self._force.is_set()
            else f"SHUTDOWN_TIMEOUT ({timeout:g} s)"
        )
        log.error("Drain cut short by %s; abandoning %s", why, self.jobs.doing())
        await cancel(loop)
        return False

    def _cut_short_by(self) -> str:
        """What ended the drain before the job in hand was done, as the worker's last line says it."""
        if self._force.is_set():
            return f"Shutdown cut short by a second {self._signals.second}"
        return f"Shutdown did not finish within SHUTDOWN_TIMEOUT ({self.settings.shutdown_timeout:g} s)"

    async def _stop_visible_parts(self) -> None:
        # The re-registration and the heartbeat first: nothing may register the worker again.
        await self.heartbeat.stop()
        await self.membership.unregister()
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
