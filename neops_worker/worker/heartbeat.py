"""The heartbeat: a ping every ``HEARTBEAT_INTERVAL``, and registering again when the engine forgot us.

It runs in a task of its own from the worker's registration until the drain has ended (a silent
worker gets its job failed by the engine). A ping answered 404 means the engine expired the worker:
the job in hand goes on, and the worker registers again under a new id, blocks included, in a
second task, so the heartbeat keeps ticking for the new id meanwhile. A re-registration the
engine's licence refuses ends the worker (``on_fatal``): no later attempt would fare better.
A ping answered ``{"success": false}`` was not accepted: said once, until a ping is accepted again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from neops_worker.engine.client import EngineClient
from neops_worker.errors import EngineError, EngineRejected, NeopsWorkerError
from neops_worker.settings import Settings
from neops_worker.worker._tasks import cancel, pause
from neops_worker.worker.events import WorkerObserver
from neops_worker.worker.membership import Membership

log = logging.getLogger("neops_worker.worker")


class Heartbeat:
    """Pings for ``membership``'s worker id; on expiry registers it again until that works or a stop."""

    def __init__(
        self,
        settings: Settings,
        client: EngineClient,
        membership: Membership,
        *,
        observer: WorkerObserver,
        stop: asyncio.Event,
        doing: Callable[[], str],
        on_fatal: Callable[[NeopsWorkerError], None] | None = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.membership = membership
        self.observer = observer
        self._stop = stop
        #: What the worker is doing ("job 42", "no job"), for the expiry's log line.
        self._doing = doing
        #: Told of an error that ends the worker (a licence refusal while registering again).
        self._on_fatal = on_fatal
        #: The engine answered pings with ``success: false`` since the last accepted one.
        self._refused = False
        self._task: asyncio.Task[None] | None = None
        self.reregistration: asyncio.Future[None] | None = None

    def start(self) -> None:
        """Start ticking: the first ping goes out at once."""
        self._task = asyncio.ensure_future(self._tick())

    async def stop(self) -> None:
        """Stop registering again, then stop pinging; returns once both tasks have ended."""
        for task in (self.reregistration, self._task):
            if task is not None:
                await cancel(task)

    async def beat(self) -> None:
        """One ping; its outcome goes to the observer, a 404 starts the re-registration."""
        worker_id = self.membership.worker_id
        if worker_id is None:
            self.observer.heartbeat(False)  # registering again: alive, but nothing to ping with yet
            return
        try:
            accepted = await self.client.ping(worker_id)
        except EngineRejected as exc:
            self.observer.heartbeat(False)
            self.observer.engine_reachable(True)
            if exc.status == 404:
                self._on_expired()
            else:
                log.warning("Heartbeat rejected (%s); pinging again in %gs", exc, self.interval)
        except EngineError as exc:
            self.observer.heartbeat(False)
            self.observer.engine_reachable(False)
            log.warning("Heartbeat failed (%s); pinging again in %gs", exc, self.interval)
        else:
            self.observer.heartbeat(accepted)
            self.observer.engine_reachable(True)
            self._note_acceptance(worker_id, accepted)

    def _note_acceptance(self, worker_id: str, accepted: bool) -> None:
        """Say when the engine starts and stops refusing pings, not at every refused ping."""
        refused = not accepted
        if refused == self._refused:
            return
        self._refused = refused
        if accepted:
            log.info("The engine accepts the heartbeat of worker %s again", worker_id)
            return
        log.warning(
            "The engine did not accept the heartbeat of worker %s (ping answered success: false); if it "
            "keeps refusing, it may count the worker as silent (offline after 6 min, its job failed); "
            "pinging again every %gs",
            worker_id,
            self.interval,
        )

    @property
    def ticking(self) -> bool:
        """Started and not stopped: pings still go out."""
        return self._task is not None and not self._task.done()

    @property
    def interval(self) -> float:
        """Seconds between pings (and between attempts to register again)."""
        return self.settings.heartbeat_interval

    async def _tick(self) -> None:
        while True:
            await self.beat()
            await asyncio.sleep(self.interval)

    def _on_expired(self) -> None:
        log.error("Worker expired! Backend rejected ping with 404.")
        self.membership.set_expired()
        if self._stop.is_set():
            log.warning("Not registering again: the worker is shutting down")
            return
        if self.reregistration is not None and not self.reregistration.done():
            return  # already registering again; it will pick up the lost id
        log.info("Registering again under a new id; %s continues", self._doing())
        # A task of its own, so the heartbeat goes on for the new id while the blocks register.
        self.reregistration = asyncio.ensure_future(self._reregister())

    async def _reregister(self) -> None:
        """Register again (new id, blocks again) until it works or the worker stops."""
        while not self._stop.is_set():
            try:
                if self.membership.worker_id is None:
                    await self.membership.register_worker()
                await self.membership.register_blocks()
            except EngineError as exc:
                log.error("Re-registration failed (%s); trying again in %gs", exc, self.interval)
                await pause(self._stop, self.interval)
                continue
            except NeopsWorkerError as exc:  # a licence refusal: said already, and final
                if self._on_fatal is not None:
                    self._on_fatal(exc)
                return
            if self.membership.worker_id is None:
                continue  # the new id expired too while the blocks registered: once more
            self.membership.set_registered()
            self.observer.ready(self.membership.worker_id or "")
            return
