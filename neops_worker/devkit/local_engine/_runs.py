"""What becomes of a run when one of its jobs ends: retry, roll back, or the run's end state.

Every job the development routes submit is a one-step run (its ``workflowExecutionId``). A 0.43
engine treats a failure as the contract says (BLACKBOARD.md 5.2, 6.1):

- a failed ``execute`` job of a pure or idempotent block is retried, as a new job that replaces it,
  up to ``max_retries`` times, unless its result said ``retryable: false``;
- once it is not retried: a pure block's failure ends the run ``FAILED_SAFE``; a reversible block's
  gets a rollback job (a new job with the failed job's input) and the run is ``ROLLBACK`` until that
  job ends, ``FAILED_SAFE`` if it succeeds, ``FAILED_UNSAFE`` if not; any other block's ends the run
  ``FAILED_UNSAFE`` at once.

A 0.42.1 engine neither retries nor rolls back (undocumented there): a run ends ``COMPLETED`` or
``FAILED``. :func:`next_step` decides, :func:`settle` writes the decision.
"""

from __future__ import annotations

import logging
import sqlite3
import uuid
from dataclasses import dataclass
from typing import Literal

from neops_worker.devkit.local_engine import _schema as sql
from neops_worker.devkit.local_engine.models import RunState
from neops_worker.devkit.local_engine.options import EngineOptions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EndedJob:
    """A job that just got its result (from its worker or from the engine)."""

    job_id: str
    type: str
    fb_id: str
    run_id: str
    attempt: int
    rollback_of: str | None
    succeeded: bool
    #: The result's ``retryable``: False keeps a failure from being retried.
    retryable: bool | None = None


@dataclass(frozen=True)
class BlockFlags:
    """A block's flags as it was first registered."""

    is_pure: bool = False
    is_idempotent: bool = False
    reversible: bool = False


@dataclass(frozen=True)
class Step:
    """What the engine does next: ``retry`` or ``rollback`` (a new job), or end the run in ``state``."""

    action: Literal["retry", "rollback", "end"]
    state: RunState


def next_step(job: EndedJob, flags: BlockFlags, options: EngineOptions) -> Step:
    """The decision for a job that ended (see the module's docstring)."""
    if not options.current:
        return Step("end", "COMPLETED" if job.succeeded else "FAILED")
    if job.type == "rollback" and job.rollback_of is not None:
        return Step("end", "FAILED_SAFE" if job.succeeded else "FAILED_UNSAFE")
    if job.succeeded:
        return Step("end", "COMPLETED")
    if job.type != "execute":  # a failed acquire ran nothing; a stand-alone rollback may have half-run
        return Step("end", "FAILED_SAFE" if job.type == "acquire" else "FAILED_UNSAFE")
    return _failed_execute(job, flags, options)


def _failed_execute(job: EndedJob, flags: BlockFlags, options: EngineOptions) -> Step:
    if (
        (flags.is_pure or flags.is_idempotent)
        and job.retryable is not False
        and job.attempt <= options.max_retries
    ):
        return Step("retry", "RUNNING")
    if flags.is_pure:
        return Step("end", "FAILED_SAFE")
    if flags.reversible:
        return Step("rollback", "ROLLBACK")
    return Step("end", "FAILED_UNSAFE")


def block_flags(db: sqlite3.Connection, fb_id: str) -> BlockFlags:
    """The block's registered flags; a block never registered has none (not pure, not reversible)."""
    row = db.execute(sql.BLOCK_FLAGS, (fb_id,)).fetchone()
    return BlockFlags() if row is None else BlockFlags(*(bool(flag) for flag in row))


def settle(db: sqlite3.Connection, job: EndedJob, options: EngineOptions, now: float) -> Step:
    """Decide and write what follows the job's end, inside the caller's transaction."""
    # Only a failed execute job's next step depends on its block: spare the look-up on the hot path.
    wanted = options.current and not job.succeeded and job.type == "execute"
    step = next_step(job, block_flags(db, job.fb_id) if wanted else BlockFlags(), options)
    if step.action == "retry":
        retry_id = add_follow_up(db, job.job_id, "execute", now, attempt=job.attempt + 1, retry_of=job.job_id)
        db.execute("UPDATE jobs SET retried_by = ? WHERE job_id = ?", (retry_id, job.job_id))
        log.info("Job %s failed (attempt %d): retried as job %s", job.job_id, job.attempt, retry_id)
    elif step.action == "rollback":
        rollback_id = add_follow_up(db, job.job_id, "rollback", now, rollback_of=job.job_id)
        log.info("Job %s failed: its block is reversible, rollback job %s created", job.job_id, rollback_id)
    db.execute(sql.SET_RUN_STATE, (step.state, now, job.run_id))
    return step


def add_follow_up(
    db: sqlite3.Connection,
    source_id: str,
    job_type: str,
    now: float,
    *,
    attempt: int = 1,
    retry_of: str | None = None,
    rollback_of: str | None = None,
) -> str:
    """A new pending job with the input of ``source_id``, in its run; the new job's id."""
    job_id = str(uuid.uuid4())
    db.execute(sql.COPY_JOB, sql.numbered(job_id, job_type, attempt, retry_of, rollback_of, now, source_id))
    return job_id
