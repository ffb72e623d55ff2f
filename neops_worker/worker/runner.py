"""Where jobs run: the ``JobRunner`` interface the lifecycle drives, and the catalog of blocks it serves.

Two runners implement it: job processes (``JOB_ISOLATION=process``, the default; the daemon never
runs block code) and job threads (``JOB_ISOLATION=thread``, in the daemon's own process). The
lifecycle asks a runner for the catalog once (discovery), then for one job at a time, and for
``ready()`` before every poll: a runner that is replacing a job process, or waiting for an
abandoned block thread, holds the next claim back until it can take a job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import Protocol

from neops_worker.engine.wire import JobDefinition, RegisterFunctionBlock, Versionable
from neops_worker.errors import DiscoveryError
from neops_worker.worker.outcome import JobOutcome

log = logging.getLogger("neops_worker")


class Catalog:
    """The blocks a worker serves, as the engine sees them: one registration body each."""

    def __init__(self, bodies: Sequence[RegisterFunctionBlock]) -> None:
        self.bodies = tuple(bodies)
        # Built once: every poll sends these.
        self._identities = [body.identity() for body in self.bodies]

    def __len__(self) -> int:
        return len(self.bodies)

    def __iter__(self) -> Iterator[RegisterFunctionBlock]:
        return iter(self.bodies)

    def identities(self) -> list[Versionable]:
        """The ``functionBlockIds`` of a poll."""
        return list(self._identities)

    def registration_bodies(self, worker_id: str) -> list[RegisterFunctionBlock]:
        """One ``RegisterFunctionBlockDto`` per block, tied to ``worker_id``."""
        return [registration_for(body, worker_id) for body in self.bodies]


def registration_for(body: RegisterFunctionBlock, worker_id: str) -> RegisterFunctionBlock:
    """A block's registration body for ``worker_id`` (the client gates its ``reversible`` flag)."""
    return body.model_copy(update={"worker_id": worker_id})


class JobRunner(Protocol):
    """Runs the jobs of one worker, one at a time; entered for the worker's whole life."""

    async def __aenter__(self) -> JobRunner:
        """Start what the runner needs (the template process)."""
        ...

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop it; no job process outlives this."""
        ...

    async def catalog(self, found: Callable[[RegisterFunctionBlock], None] | None = None) -> Catalog:
        """Discover the blocks (once) and say what is served; raises ``DiscoveryError``.

        ``found`` is told each block's registration body as soon as it is found, before discovery
        ends (the worker registers it meanwhile).
        """
        ...

    async def run(self, job: JobDefinition) -> JobOutcome:
        """Run ``job`` to a result; never raises but for cancellation (which stops the job)."""
        ...

    async def ready(self) -> None:
        """Return once the next job can start (a replacement process is up, no block still runs)."""
        ...

    def is_ready(self) -> bool:
        """Whether the next job can start now, so that ``ready`` has nothing to wait for (checked per job)."""
        ...

    def wedged(self) -> str | None:
        """Why jobs cannot run any more (for ``/livez``), or None; a long job is not wedged."""
        ...


def report_problems(problems: Sequence[tuple[str, str]], skip_broken: bool, error: list[str] | None) -> None:
    """Log discovery problems (``text``, ``detail``); raise when discovery failed as a whole.

    The problems of a failed discovery are not logged here: the runtime's last line says them, once.
    """
    raised = set(error or ())
    level = logging.WARNING if skip_broken else logging.ERROR
    for text, detail in problems:
        if text not in raised:
            log.log(level, "Function block module problem: %s", text)
        if detail:
            log.debug("%s", detail)
    if error:
        raise DiscoveryError(error)
