"""The worker's standing with the engine: the version check, its id, its blocks, the poll that claims.

Startup and re-registration after an expiry go through the same steps (``register_worker``, then
``register_blocks``), each retried by the start-up policy; ``unregister`` is the drain's last word.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from neops_worker.engine.client import EngineClient
from neops_worker.engine.retry import call_with_retry, startup_policy
from neops_worker.engine.wire import JobPoll, RegisterFunctionBlock, RegisterWorker, VersionCompatibility
from neops_worker.errors import EngineError, IncompatibleEngineError
from neops_worker.observability import set_worker_identity
from neops_worker.settings import Settings
from neops_worker.worker.runner import Catalog, registration_for

log = logging.getLogger("neops_worker.worker")

_Register = Callable[[RegisterFunctionBlock], Awaitable[bool]]


class Membership:
    """Registers the worker and its blocks, keeps its id, and says whether the engine still knows it."""

    def __init__(self, settings: Settings, client: EngineClient, version: str) -> None:
        self.settings = settings
        self.client = client
        self.version = version
        #: The blocks served, as discovered; registered again after an expiry.
        self.catalog = Catalog([])
        self.worker_id: str | None = None
        #: Set while the worker and its blocks are registered: polls may go out.
        self.registered = asyncio.Event()
        #: The engine forgot this worker (a ping answered 404): there is nothing to unregister.
        self.expired = False
        self.poll_request: JobPoll | None = None

    async def check_engine(self) -> None:
        """Refuse an incompatible engine; an unanswered check is assumed compatible."""
        try:
            answer = await self.client.check_compatibility()
        except EngineError as exc:
            log.warning("Version check not answered (%s); assuming the engine is compatible", exc)
            return
        _refuse_incompatible(answer)
        if answer.deprecated:
            log.warning("The engine (version %s) marks our contract version as deprecated", answer.version)
        log.info("Engine version %s at %s", answer.version, self.client.base_url)

    async def register_worker(self) -> None:
        """Register the worker (retried until ``STARTUP_RETRY_TIMEOUT``) and take its new id."""
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

    async def register_blocks(
        self, arriving: asyncio.Queue[RegisterFunctionBlock | None] | None = None
    ) -> None:
        """Register the blocks for this worker id, a bounded number at a time, then build the poll.

        The catalog's blocks; or, at start, each block as discovery finds it (``arriving``, ended
        by None once discovery succeeded and ``catalog`` is set), so registering keeps pace with
        importing.
        """
        worker_id = self.worker_id
        assert worker_id is not None
        register = self._bounded_registration()
        reversible = self.settings.register_reversible
        tasks: list[asyncio.Future[bool]] = []
        try:
            if arriving is None:
                bodies = self.catalog.registration_bodies(worker_id, reversible)
                tasks = [asyncio.ensure_future(register(body)) for body in bodies]
            else:
                while (body := await arriving.get()) is not None:
                    tasks.append(
                        asyncio.ensure_future(register(registration_for(body, worker_id, reversible)))
                    )
            created = await asyncio.gather(*tasks)
        except EngineError:
            log.error("Function block registration failed")
            raise
        finally:
            for task in tasks:  # after a failure (or a cancellation), the others are not waited for
                task.cancel()
        # One job at a time: claim exactly as many jobs as there are free slots (one).
        self.poll_request = JobPoll(
            function_block_ids=self.catalog.identities(), limit=1, worker_id=worker_id
        )
        log.info(
            "Registered %d function block(s) (%d already known to the engine)",
            len(created),
            created.count(False),
        )

    def set_registered(self) -> None:
        """The worker and its blocks are registered: polls may go out."""
        self.expired = False
        self.registered.set()

    def set_expired(self) -> None:
        """The engine forgot this worker: no polls, no id, nothing to unregister."""
        self.registered.clear()
        self.worker_id = None
        self.expired = True

    async def unregister(self) -> None:
        """Tell the engine this worker is gone (unless it already forgot it); a failure is only logged."""
        if self.worker_id is None or self.expired:
            return
        try:
            await self.client.unregister(self.worker_id)
            log.info("Worker %s unregistered", self.worker_id)
        except EngineError as exc:
            log.warning("Unregister failed (%s); stopping anyway", exc)

    def _bounded_registration(self) -> _Register:
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

        return register


def _refuse_incompatible(answer: VersionCompatibility) -> None:
    if not answer.compatible:
        raise IncompatibleEngineError(
            f"The engine (version {answer.version}) is incompatible with "
            f"{answer.checked_library} {answer.checked_version}; not starting"
        )
