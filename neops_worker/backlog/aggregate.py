"""From a read of the listing to the backlog: jobs per block and state, the oldest pending job's age.

A block keeps its series once seen (at 0 when it has no jobs), for as long as the exporter runs: a
query over the blocks a deployment serves then reads 0, not "no data", when their backlog empties.
Ages are counted on the exporter's clock, or on the engine's (its answer's ``Date``, to the second)
when the two differ by more than ``CLOCK_TOLERANCE_S``: a skewed clock on either host then neither
ages jobs nor makes them young. A 0.42.1 engine does not say when a job was created, so its jobs are aged
from when the exporter first saw them pending (a lower bound, exact to one ``--interval``).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from neops_worker.backlog.listing import STATES, BacklogState, Listing
from neops_worker.engine.wire import ListedJob

Clock = Callable[[], float]
#: How far the engine's clock may be from the exporter's before ages are counted on the engine's.
CLOCK_TOLERANCE_S = 2.0


@dataclass(frozen=True)
class Backlog:
    """The backlog at one read: jobs per (block, state), and per block its oldest pending job's age."""

    jobs: Mapping[tuple[str, BacklogState], int] = field(default_factory=dict)
    #: Seconds the oldest pending job of each block has waited; 0 for a block with none pending.
    oldest_pending_s: Mapping[str, float] = field(default_factory=dict)

    @property
    def blocks(self) -> list[str]:
        """The blocks in the backlog, sorted."""
        return sorted(self.oldest_pending_s)

    def total(self, state: BacklogState) -> int:
        """Jobs in ``state`` across every block."""
        return sum(count for (_block, counted), count in self.jobs.items() if counted == state)


class BacklogTracker:
    """Turns each ``Listing`` into a ``Backlog``, remembering the blocks seen and when jobs first waited."""

    def __init__(self, clock: Clock = time.time) -> None:
        self._clock = clock
        self._blocks: set[str] = set()
        #: Pending job id -> when this exporter first saw it pending (epoch seconds).
        self._first_seen: dict[str, float] = {}

    def update(self, listing: Listing) -> Backlog:
        """The backlog ``listing`` describes."""
        now = self._clock()
        pending = listing.jobs.get("pending", [])
        self._first_seen = {job.job_id: self._first_seen.get(job.job_id, now) for job in pending}
        counts = Counter(
            (job.function_block_id, state) for state in STATES for job in listing.jobs.get(state, [])
        )
        self._blocks.update(block for block, _state in counts)
        jobs = {(block, state): counts[block, state] for block in self._blocks for state in STATES}
        oldest = dict.fromkeys(self._blocks, 0.0)
        for job in pending:
            age = self._age(job, listing.engine_time, now)
            oldest[job.function_block_id] = max(oldest[job.function_block_id], age)
        return Backlog(jobs, oldest)

    def _age(self, job: ListedJob, engine_time: datetime | None, now: float) -> float:
        """Seconds ``job`` has waited: by the engine's clock where it can tell, else since first seen."""
        if job.created_at is None:
            return max(0.0, now - self._first_seen[job.job_id])
        reference = datetime.fromtimestamp(now, UTC)
        if (
            engine_time is not None
            and abs((_aware(engine_time) - reference).total_seconds()) > CLOCK_TOLERANCE_S
        ):
            reference = _aware(engine_time)
        return max(0.0, (reference - _aware(job.created_at)).total_seconds())


def _aware(moment: datetime) -> datetime:
    """A time without a zone is the engine's UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


__all__ = ["Backlog", "BacklogTracker"]
