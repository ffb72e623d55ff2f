"""``JobMeta``: what a block may know of the job in hand beyond its parameters and context.

A block receives it when its ``run``, ``acquire`` or ``rollback`` declares a parameter for it
(``run(self, params, context, meta)``; see :mod:`neops_worker.blocks.calls` for the rule); the
worker decides that once per block, at discovery. It is read-only: a block cannot change what the
worker reports.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, NoReturn


@dataclass(frozen=True, slots=True)
class JobMeta:
    """The job in hand: its ids and type, where it runs, the worker running it, and its deadline.

    ``deadline`` is a ``time.monotonic()`` value: the moment the worker gives up on the job (its
    time limit, ``JOB_TIMEOUT`` or else what the engine's stuck-job timeout leaves), ``None`` when
    it has none. ``remaining()`` gives the seconds left; ``asyncio.timeout_at(meta.deadline)``
    bounds an awaited call by it (the event loop's clock is the monotonic one).
    """

    job_id: str
    function_block_id: str
    #: ``execute``, ``acquire`` or ``rollback``.
    job_type: str
    step_label: str | None
    #: ``global``, ``device``, ``interface``, ``group`` or ``client`` (``global`` when the job names none).
    run_on: str
    #: The id of the entity the job runs on; ``None`` on a global job.
    entity_id: int | None
    #: The id the engine gave this worker at its (latest) registration; ``None`` outside a worker.
    worker_id: str | None
    #: ``WORKER_NAME``; ``None`` when it is not set.
    worker_name: str | None
    deadline: float | None = None

    def remaining(self) -> float | None:
        """Seconds left before the deadline (0 once it passed), or ``None`` when there is no limit."""
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - time.monotonic())

    if not TYPE_CHECKING:  # a type checker keeps reporting a misspelt attribute itself

        def __getattr__(self, name: str) -> NoReturn:
            # Only called for a name the object does not have: say which ones it has.
            known = ", ".join([field.name for field in fields(JobMeta)] + ["remaining()"])
            raise AttributeError(f"JobMeta has no attribute {name!r}; it has {known}", name=name, obj=self)
