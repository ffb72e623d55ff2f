"""Load and soak runs: a fleet of workers draining a big queue exactly once; one worker's memory over time.

    uv run python bench/load.py fleet --workers 8 --jobs 20000
    uv run python bench/load.py soak --jobs 50000

Both run real ``neops_worker`` processes against the local engine in a child process and print
figures; ``bench/run_all.py`` puts them into ``bench/RESULTS.md``. Checks of correctness (every job
claimed once with one result, no duplicate result push) are reported as figures; the slow tests in
``tests/faults/test_load.py`` assert them.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from bench.common import (
    BENCH_BLOCKS,
    NOOP,
    RssSampler,
    WorkerRun,
    drain_span,
    jobs,
    queue_many,
    temporary_dir,
    wait_pushed,
)
from neops_worker.devkit.local_engine import EngineProcess

#: What a worker logs when the engine refuses a second result for a job (409).
DUPLICATE_PUSH = "already holds a result"


@dataclass(frozen=True)
class FleetRun:
    """What a fleet drain measured and found."""

    workers: int
    jobs: int
    seconds: float
    pushed: int
    claimed_once: int
    failed_results: int
    duplicate_pushes: int
    exit_codes: list[int]
    per_worker: list[int]

    @property
    def rate(self) -> float:
        """Jobs per second, first claim to last result."""
        return self.jobs / self.seconds

    @property
    def exactly_once(self) -> bool:
        """Every job pushed, claimed once, with a success result; no second push; clean exits."""
        return (
            self.pushed == self.claimed_once == self.jobs
            and self.failed_results == 0
            and self.duplicate_pushes == 0
            and set(self.exit_codes) == {0}
        )


def fleet_drain(
    workers: int,
    count: int,
    fb_id: str = NOOP,
    parameters: dict[str, Any] | None = None,
    **settings: Any,
) -> FleetRun:
    """``workers`` worker processes drain ``count`` queued jobs from one local engine; ``settings`` go to
    each (``WORKER_SLOTS``...), and ``per_worker`` counts jobs per worker id: per slot with several."""
    with (
        temporary_dir("bench-fleet-") as tmp,
        EngineProcess(tmp / "engine.db") as engine,
        contextlib.ExitStack() as stack,
    ):
        ids = queue_many(engine.url, fb_id, count, **(parameters or {}))
        fleet = [
            stack.enter_context(
                WorkerRun(engine.url, BENCH_BLOCKS, tmp, **{"WORKER_NAME": f"load-{i}", **settings})
            )
            for i in range(workers)
        ]
        wait_pushed(engine.url, ids[-1], 30 + count / 20, 1.0)
        # Claims are in queue order, so once the last job is done only claimed ones can be open.
        while jobs(engine.url, status="polled"):
            time.sleep(0.5)
        codes = [worker.stop() for worker in fleet]
        rows = jobs(engine.url)
    return FleetRun(
        workers=workers,
        jobs=count,
        seconds=drain_span(rows),
        pushed=sum(row["status"] == "pushed" for row in rows),
        claimed_once=sum(row["claims"] == 1 for row in rows),
        failed_results=sum(row["resultStatus"] != "success" for row in rows),
        duplicate_pushes=sum(worker.count(DUPLICATE_PUSH) for worker in fleet),
        exit_codes=codes,
        per_worker=sorted(Counter(row["workerId"] for row in rows).values()),
    )


@dataclass(frozen=True)
class SoakRun:
    """One worker's RSS over a long run: after warm-up, at its highest after, at the end (kB)."""

    jobs: int
    warmup_jobs: int
    seconds: float
    rss_start_kb: int
    rss_warm_kb: int
    rss_max_after_kb: int
    rss_end_kb: int
    samples: int
    exactly_once: bool
    exit_code: int

    @property
    def growth(self) -> float:
        """Growth of the highest RSS after warm-up over the RSS at the end of warm-up."""
        return (self.rss_max_after_kb - self.rss_warm_kb) / self.rss_warm_kb


def soak(count: int, warmup: int, interval: float = 0.5) -> SoakRun:
    """One worker runs ``count`` no-op jobs; its RSS is sampled every ``interval`` s from /proc."""
    with temporary_dir("bench-soak-") as tmp, EngineProcess(tmp / "engine.db") as engine:
        ids = queue_many(engine.url, NOOP, count)
        with WorkerRun(engine.url, BENCH_BLOCKS, tmp) as worker, RssSampler(worker.pid, interval) as rss:
            wait_pushed(engine.url, ids[warmup - 1], 600, 0.5)
            warm_at = time.perf_counter()
            wait_pushed(engine.url, ids[-1], 30 + count / 20, 1.0)
            code = worker.stop()
        rows = jobs(engine.url)
    after = [kb for at, kb in rss.samples if at >= warm_at]
    warm = [kb for at, kb in rss.samples if at < warm_at]
    return SoakRun(
        jobs=count,
        warmup_jobs=warmup,
        seconds=drain_span(rows),
        rss_start_kb=warm[0],
        rss_warm_kb=warm[-1],
        rss_max_after_kb=max(after),
        rss_end_kb=after[-1],
        samples=len(rss.samples),
        exactly_once=all(
            (row["status"], row["claims"], row["resultStatus"]) == ("pushed", 1, "success") for row in rows
        ),
        exit_code=code,
    )


def main() -> None:
    """Run a fleet drain or a soak and print the figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="run", required=True)
    fleet = sub.add_parser("fleet", help="several workers drain one queue")
    fleet.add_argument("--workers", type=int, default=8)
    fleet.add_argument("--jobs", type=int, default=20000)
    soaked = sub.add_parser("soak", help="one worker, many jobs, RSS sampled")
    soaked.add_argument("--jobs", type=int, default=50000)
    soaked.add_argument("--warmup", type=int, default=5000)
    args = parser.parse_args()
    if args.run == "fleet":
        run = fleet_drain(args.workers, args.jobs)
        print(f"{run.workers} workers, {run.jobs} jobs: {run.seconds:.1f} s, {run.rate:.0f} jobs/s")
        print(f"exactly once: {run.exactly_once} (claimed once {run.claimed_once}, pushed {run.pushed}, ")
        print(f"  duplicate pushes {run.duplicate_pushes}, exit codes {run.exit_codes})")
        print(f"jobs per worker: {run.per_worker}")
        return
    result = soak(args.jobs, args.warmup)
    print(f"{result.jobs} jobs in {result.seconds:.1f} s; exactly once: {result.exactly_once}")
    print(
        f"RSS kB: start {result.rss_start_kb}, after {result.warmup_jobs} jobs {result.rss_warm_kb}, "
        f"max after {result.rss_max_after_kb}, end {result.rss_end_kb}; growth {result.growth:+.1%}"
    )


if __name__ == "__main__":
    main()
