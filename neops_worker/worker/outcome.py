"""What running one job gives: the result to push, how the job ended, and how long it took."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Literal

from neops_worker.engine.wire import DbUpdates, JobResult

#: How a job ended; ``exited`` is a block calling ``sys.exit``, ``crashed`` a job process that died.
Outcome = Literal["success", "failed", "error", "timeout", "rejected", "exited", "crashed"]


@dataclass(frozen=True)
class JobOutcome:
    """The result to push, with what the worker logs and counts about it."""

    result: JobResult
    outcome: Outcome
    duration_s: float
    #: Thread mode only: the thread of a timed-out block, still running; settles when it returns.
    pending: asyncio.Future[Any] | None = field(default=None, compare=False)
    #: Process mode: why the job process is replaced after this job (``crash``, ``timeout``,
    #: ``sys_exit``, ``max_jobs``, ``memory``); None when it is kept.
    restart: str | None = None

    @property
    def db_updates(self) -> DbUpdates | None:
        """The inventory changes carried by the result, if any."""
        return self.result.result.db_updates
