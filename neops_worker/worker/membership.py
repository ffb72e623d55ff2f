"""The worker's standing with the engine: the version check, its id, its blocks, the poll that claims.

Startup and re-registration after an expiry go through the same steps (``register_worker``, then
``register_blocks``), each retried by the start-up policy; ``unregister`` is the drain's last word.
A registration cut short while its request is with the engine still takes the id the engine
answers, so that nothing stays registered that the worker cannot unregister.
What neither a retry nor a restart changes ends them: a licence refusal (``LicenceRefusedError``,
said in one line naming every block it refused), or a block whose schemas (400) or size (413) the
engine refuses.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from neops_worker.engine.client import EngineClient, LicenceRefusal
from neops_worker.engine.retry import call_with_retry, startup_policy
from neops_worker.engine.wire import (
    JobPoll,
    RegisterFunctionBlock,
    RegisterWorker,
    VersionCompatibility,
    WorkerRegistration,
)
from neops_worker.errors import (
    EngineError,
    EngineRejected,
    EngineUnavailable,
    IncompatibleEngineError,
    LicenceRefusedError,
)
from neops_worker.observability import current_slot, set_worker_identity
from neops_worker.settings import Settings
from neops_worker.worker.runner import Catalog, registration_for

log = logging.getLogger("neops_worker.worker")

#: A block's registration: True if new, False if the engine had it, None if its licence refused it.
_Register = Callable[[RegisterFunctionBlock], Awaitable[bool | None]]


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
        #: Whether blocks already known to the engine (409) were explained once.
        self._told_known = False

    async def check_engine(self) -> None:
        """Refuse an incompatible engine; learn its version, which decides what it is sent; say both.

        An unanswered check is assumed compatible, and the version is asked of ``GET /version``.
        """
        library, version = self.settings.version_check_library, self.settings.version_check_version
        try:
            answer = await self.client.check_compatibility(library, version)
        except EngineError as exc:
            log.warning("Version check not answered (%s); assuming the engine is compatible", exc)
        else:
            _refuse_incompatible(answer)
            if answer.deprecated:
                log.warning(
                    "The engine (version %s) says %s %s is deprecated; serving it anyway",
                    answer.version,
                    answer.checked_library,
                    answer.checked_version,
                )
        if self.client.generation.parsed is None:
            await self._ask_version()
        log.info("%s", self._engine_line())

    async def _ask_version(self) -> None:
        """The engine's version from ``GET /version``, when the version check did not give it."""
        try:
            await self.client.engine_version()
        except EngineError as exc:
            log.warning("Engine version not known: GET /version not answered either (%s)", exc)

    def _engine_line(self) -> str:
        """Which engine this is, where, and which of the fields gated on its version it is sent."""
        client = self.client
        mode = self.settings.register_reversible
        return (
            f"Engine version {client.generation.describe()} at {client.base_url}: blocks registered "
            f"{'with' if client.sends_reversible else 'without'} 'reversible' (REGISTER_REVERSIBLE={mode}), "
            f"failed results {'with' if client.sends_retryable else 'without'} 'retryable'"
        )

    async def register_worker(self) -> None:
        """Register the worker (retried until ``STARTUP_RETRY_TIMEOUT``) and take its new id."""
        log.info("Registering worker with backend...")
        body = RegisterWorker(
            version=self.version, name=self.settings.worker_name, ip_address=self.settings.worker_ip_address
        )
        policy = startup_policy(self.settings.startup_retry_timeout)
        try:
            await call_with_retry(
                policy, "Worker registration", lambda: self._registration(body), wake=self.client.answers
            )
        except LicenceRefusal as exc:
            raise licence_refused(exc, ["the worker"]) from None
        except EngineUnavailable as exc:
            raise self.client.gave_up(exc, policy.deadline, "STARTUP_RETRY_TIMEOUT") from None
        except EngineError:
            log.error("Worker registration failed")
            raise

    async def _registration(self, body: RegisterWorker) -> None:
        """One attempt at registering; its id is taken even if the caller is cancelled meanwhile.

        A stop, or a discovery that failed, may cancel the start while the request is with the
        engine: the engine then registers a worker whose id only its answer tells, and a worker
        that never learnt its id could not unregister it (a ghost, online with no block).
        """
        attempt = asyncio.ensure_future(self.client.register_worker(body))
        try:
            answer = await asyncio.shield(attempt)
        except asyncio.CancelledError:
            await self._answer_of_cancelled(attempt)
            raise
        self._take_id(answer.uuid)

    async def _answer_of_cancelled(self, attempt: asyncio.Future[WorkerRegistration]) -> None:
        """Wait for a cut-short registration's answer (up to API_REQUEST_TIMEOUT) and keep its id.

        A second cancellation stops the wait.
        """
        try:
            await asyncio.wait({attempt}, timeout=self.settings.api_request_timeout)
        finally:
            if not attempt.done():
                attempt.cancel()
        if attempt.cancelled() or attempt.exception() is not None:
            return
        self._take_id(attempt.result().uuid)

    def _take_id(self, worker_id: str) -> None:
        """The engine knows this worker by ``worker_id`` from now on: it is the one to unregister."""
        self.worker_id = worker_id
        self.expired = False
        set_worker_identity(worker_id, self.settings.worker_name)
        log.info("Worker registered with id %s", worker_id)

    async def register_blocks(
        self, arriving: asyncio.Queue[RegisterFunctionBlock | None] | None = None
    ) -> None:
        """Register the blocks for this worker id, a bounded number at a time, then build the poll.

        The catalog's blocks; or, at start, each block as discovery finds it (``arriving``, ended
        by None once discovery succeeded and ``catalog`` is set), so registering keeps pace with
        importing. Licence refusals are collected while the others settle, then raised as one.
        """
        worker_id = self.worker_id
        assert worker_id is not None
        refusals: dict[str, LicenceRefusal] = {}
        register = self._bounded_registration(refusals)
        tasks: list[asyncio.Future[bool | None]] = []
        try:
            async for body in self._bodies(arriving):
                tasks.append(asyncio.ensure_future(register(registration_for(body, worker_id))))
            created = await asyncio.gather(*tasks)
        except EngineRejected:
            log.error("Function block registration failed")
            raise
        finally:
            for task in tasks:  # after a failure (or a cancellation), the others are not waited for
                task.cancel()
        if refusals:
            raise licence_refused(next(iter(refusals.values())), sorted(refusals))
        # One job at a time: claim exactly as many jobs as there are free slots (one).
        self.poll_request = JobPoll(
            function_block_ids=self.catalog.identities(), limit=1, worker_id=worker_id
        )
        self._say_registered(len(created), created.count(False))

    def _say_registered(self, count: int, known: int) -> None:
        """The registration's line; at the first start, what a block already known (409) implies."""
        log.info("Registered %d function block(s) (%d already known to the engine)", count, known)
        # The first slot speaks for all: the others find the blocks it has just registered.
        if known and not self._told_known and current_slot() in (None, 1):
            self._told_known = True
            log.info(
                "%d block(s) were registered before under the same version (an earlier start, another "
                "worker): the engine keeps the schemas it has, or refuses a changed one; give a block whose "
                "parameters or result changed a new version",
                known,
            )

    async def _bodies(
        self, arriving: asyncio.Queue[RegisterFunctionBlock | None] | None
    ) -> AsyncIterator[RegisterFunctionBlock]:
        """The catalog's bodies, or those arriving from discovery until its end (None)."""
        if arriving is None:
            for body in self.catalog:
                yield body
            return
        while (found := await arriving.get()) is not None:
            yield found

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
            accepted = await self.client.unregister(self.worker_id)
        except EngineError as exc:
            log.warning("Unregister failed (%s); stopping anyway", exc)
            return
        if accepted:
            log.info("Worker %s unregistered", self.worker_id)
        else:
            log.warning(
                "The engine answered the unregistration of worker %s with success: false; stopping anyway",
                self.worker_id,
            )

    def _bounded_registration(self, refusals: dict[str, LicenceRefusal]) -> _Register:
        """Registration of one block, retried (the client sends at most REGISTRATION_CONCURRENCY at once).

        A licence refusal goes to ``refusals`` (the other registrations go on, so that every refused
        block is named); a 400 or 413 becomes an error naming the block.
        """
        policy = startup_policy(self.settings.startup_retry_timeout)

        async def register(body: RegisterFunctionBlock) -> bool | None:
            try:
                return await call_with_retry(
                    policy,
                    f"Registration of {body.fb_id}",
                    lambda: self.client.register_function_block(body),
                    wake=self.client.answers,
                )
            except LicenceRefusal as exc:
                refusals[body.fb_id] = exc
                return None
            except EngineRejected as exc:
                raise self._refused_block(body, exc) from None
            except EngineUnavailable as exc:
                raise self.client.gave_up(exc, policy.deadline, "STARTUP_RETRY_TIMEOUT") from None

        return register

    def _refused_block(self, body: RegisterFunctionBlock, exc: EngineRejected) -> EngineRejected:
        """A block's refusal, saying what to change for a 400 (its schemas) or a 413 (its size)."""
        if exc.status == 400:
            why = (
                "its parameter or result schema is probably incompatible with a version of the block "
                "the engine already has (a breaking change needs a new major version)"
            )
        elif exc.status == 413:
            why = (
                f"its registration body of {self.client.encoded_size(body)} bytes is over the engine's "
                "request size limit (100 kB by default); make its parameter or result schema smaller"
            )
        else:
            return exc
        return EngineRejected(exc.operation, f"refused ({exc.detail}): {why}", exc.status, exc.body)


def licence_refused(refusal: LicenceRefusal, refused: Sequence[str]) -> LicenceRefusedError:
    """Log the refusal's one line (before anything else is done about it) and return it as the error."""
    line = refusal.describe(refused)
    log.error("%s", line)
    return LicenceRefusedError(line)


def _refuse_incompatible(answer: VersionCompatibility) -> None:
    if not answer.compatible:
        raise IncompatibleEngineError(
            f"The engine (version {answer.version}) is incompatible with {answer.checked_library} "
            f"{answer.checked_version}, the library and version this worker checked; not starting. If "
            "the engine does serve this worker, set VERSION_CHECK_LIBRARY and VERSION_CHECK_VERSION "
            "to a library and version it accepts"
        )
