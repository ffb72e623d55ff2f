"""Worker benchmarks: drain rate vs bare clients, pickup latency, heartbeat gap, start-up, RSS, stop time.

Runs the real ``neops_worker`` process against the local engine on loopback and prints figures;
it asserts nothing. ``uv run python bench/bench_worker.py --help`` for the options;
``bench/run_all.py`` runs these and the load figures and writes ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx

from bench.bench_engine import event_loop_runner
from bench.bench_engine import run as engine_run
from bench.common import (
    BENCH_BLOCKS,
    EXAMPLES,
    NOOP,
    SLEEP,
    WorkerRun,
    add_jobs,
    drain_span,
    epoch,
    job,
    jobs,
    online,
    rss_kb,
    temporary_dir,
    wait_for,
    wait_pushed,
)
from neops_worker.devkit.local_engine import EngineOptions, EngineProcess, LocalEngine
from neops_worker.engine.wire import (
    JobExecutionResult,
    JobPoll,
    JobResult,
    RegisterFunctionBlock,
    RegisterWorker,
)

#: The log line of the worker's last start-up step: from here on it polls.
READY_LINE = "Worker state: registered -> idle"


# --- throughput --------------------------------------------------------------------------------


def drain_rate(count: int) -> float:
    """Jobs/s of one real worker process draining ``count`` queued no-op jobs (first claim to last result)."""
    with temporary_dir("bench-drain-") as tmp, EngineProcess(tmp / "engine.db") as engine:
        ids = add_jobs(engine.url, NOOP, count)
        with WorkerRun(engine.url, BENCH_BLOCKS, tmp) as worker:
            wait_pushed(engine.url, ids[-1], 300, 0.25)
            worker.stop()
        rows = jobs(engine.url)
    return len(rows) / drain_span(rows)


async def _bare_cycles(url: str) -> float:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        worker = (
            await client.post("/workers/register", json=RegisterWorker(version="bench").to_wire())
        ).json()["uuid"]
        block = RegisterFunctionBlock(
            package="bench.neops",
            name="noop",
            major_version=1,
            minor_version=0,
            patch_version=0,
            worker_id=worker,
            description="noop",
            fb_type="none",
            parameter_json_schema={},
            result_data_json_schema={},
        )
        await client.post("/function-blocks/register", json=block.to_wire())
        poll = JobPoll(function_block_ids=[block.identity()], limit=1, worker_id=worker).to_wire()
        done = 0
        started = time.perf_counter()
        while True:
            claimed = (await client.post("/blackboard/job", json=poll)).json()
            if not claimed:
                break
            result = JobResult(
                job_execution_id=claimed[0]["jobId"],
                status="success",
                result=JobExecutionResult(success=True, message="noop"),
            )
            await client.post("/blackboard/job/result", json=result.to_wire())
            done += 1
        return done / (time.perf_counter() - started)


def bare_client_rate(count: int) -> float:
    """Poll + result cycles/s of a bare sequential httpx client (one job at a time, like the worker)."""
    with temporary_dir("bench-bare-") as tmp, EngineProcess(tmp / "engine.db") as engine:
        add_jobs(engine.url, NOOP, count)
        return asyncio.run(_bare_cycles(engine.url))


def raw_client_rate(count: int, concurrency: int) -> float:
    """bench_engine.py's figure: cycles/s of its minimal raw HTTP/1.1 client(s), on uvloop if present."""
    with temporary_dir("bench-raw-") as tmp, EngineProcess(tmp / "engine.db") as engine:
        return event_loop_runner()(engine_run("raw", engine.url, count, concurrency)).rate


# --- latency -------------------------------------------------------------------------------------


def backoff_ramp(poll_min: float, poll_interval: float) -> float:
    """Seconds of empty polls before the idle backoff (doubling from ``poll_min``) reaches its ceiling."""
    ramp, wait = 0.0, min(poll_min, poll_interval)
    while wait < poll_interval:
        ramp += wait
        wait *= 2
    return ramp


def _pickup_lane(poll_interval: float, count: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    ramp = backoff_ramp(0.2, poll_interval)
    with (
        temporary_dir("bench-pickup-") as tmp,
        EngineProcess(tmp / "engine.db") as engine,
        WorkerRun(engine.url, BENCH_BLOCKS, tmp, POLL_INTERVAL=poll_interval) as worker,
    ):
        wait_for(lambda: online(engine.url), 30, 0.05)
        latencies = []
        for _ in range(count):
            # Idle long enough for the backoff to reach POLL_INTERVAL, then a random phase of it.
            time.sleep(ramp + rng.uniform(0, poll_interval))
            submitted = time.time()
            (job_id,) = add_jobs(engine.url, NOOP, 1)
            row = wait_pushed(engine.url, job_id, poll_interval + 30, 0.05)
            latencies.append(epoch(row["claimedAt"]) - submitted)
        worker.stop()
    return latencies


def pickup_latencies(poll_interval: float, samples: int, lanes: int = 4) -> list[float]:
    """Seconds from submitting a job to its claim by an idle worker (POLL_MIN_INTERVAL 0.2 s default).

    ``lanes`` engine-and-worker pairs sample in parallel (they mostly sleep), each ``samples/lanes`` times.
    """
    per_lane = -(-samples // lanes)
    with ThreadPoolExecutor(lanes) as pool:
        parts = pool.map(lambda lane: _pickup_lane(poll_interval, per_lane, lane), range(lanes))
        return [latency for part in parts for latency in part][:samples]


def heartbeat_gap(block_seconds: float) -> tuple[float, int]:
    """Largest gap between pings (s) while a block blocks its thread, with HEARTBEAT_INTERVAL=1."""
    pings: list[float] = []

    def recorder(app: Any) -> Any:
        async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] == "http" and scope["path"].endswith("/ping"):
                pings.append(time.monotonic())
            await app(scope, receive, send)

        return wrapped

    with (
        temporary_dir("bench-heartbeat-") as tmp,
        LocalEngine(wrap_app=recorder, options=EngineOptions(heartbeat_interval_s=1)) as engine,
    ):
        (job_id,) = add_jobs(engine.url, SLEEP, 1, seconds=block_seconds)
        with WorkerRun(engine.url, EXAMPLES, tmp, HEARTBEAT_INTERVAL=1) as worker:
            row = wait_pushed(engine.url, job_id, block_seconds + 30)
            worker.stop()
    during = [b - a for a, b in pairwise(pings)]
    assert row["resultStatus"] == "success"
    return max(during), len(pings)


# --- start, memory, stop ---------------------------------------------------------------------------


def generate_blocks(directory: Path, count: int, source: str | None = None) -> Path:
    """Write ``count`` small block modules (``bench.generated/gen_NNN:1.0.0``) into ``directory``.

    ``source``: the module's text with ``{i}`` for its number (default: a block of this worker's API).
    """
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (directory / f"gen_{i:03d}.py").write_text((source or _GENERATED).format(i=i))
    return directory


_GENERATED = '''"""Generated block {i}."""

from neops_worker import (
    FunctionBlock,
    FunctionBlockParams,
    FunctionBlockResult,
    FunctionBlockResultData,
    Registration,
    WorkflowContext,
    register_function_block,
)


class Params{i}(FunctionBlockParams):
    """Parameters of block {i}."""

    value: int = 0


class Result{i}(FunctionBlockResultData):
    """Result of block {i}."""

    value: int


@register_function_block(
    Registration(name="gen_{i:03d}", package="bench.generated", description="Block {i}", fb_type="none")
)
class Gen{i}(FunctionBlock[Params{i}, Result{i}]):
    """Returns its value."""

    def run(self, params: Params{i}, context: WorkflowContext) -> FunctionBlockResult[Result{i}]:
        """Echo the value."""
        return FunctionBlockResult(success=True, message="ok", data=Result{i}(value=params.value))
'''


@dataclass(frozen=True)
class Startup:
    """One start: seconds from spawn to blocks discovered and to ready (all registered), idle RSS."""

    discovered_s: float
    ready_s: float
    idle_rss_kb: int


def startups(blocks: Path, runs: int, settle_s: float = 2.0) -> list[Startup]:
    """Start a worker ``runs`` times, each against a fresh engine; the first run may compile .pyc files."""
    figures = []
    for _ in range(runs):
        with (
            temporary_dir("bench-start-") as tmp,
            EngineProcess(tmp / "engine.db") as engine,
            WorkerRun(engine.url, blocks, tmp, LOG_LEVEL="INFO") as worker,
        ):
            ready = worker.when(READY_LINE)
            discovered = worker.when("Found ")
            time.sleep(settle_s)
            figures.append(Startup(discovered, ready, rss_kb(worker.pid)))
            worker.stop()
    return figures


def idle_stop_seconds(runs: int) -> list[float]:
    """Seconds from SIGTERM to exit of an idle, registered worker whose poll backoff is long."""
    figures = []
    with temporary_dir("bench-stop-") as tmp, EngineProcess(tmp / "engine.db") as engine:
        for _ in range(runs):
            with WorkerRun(engine.url, BENCH_BLOCKS, tmp, POLL_INTERVAL=10) as worker:
                wait_for(lambda: online(engine.url), 30)
                time.sleep(1.5)  # let the poll backoff reach a long sleep: the worst case for a stop
                started = time.perf_counter()
                worker.stop()
                figures.append(time.perf_counter() - started)
            httpx.post(f"{engine.url}/_dev/sweep")
    return figures


@dataclass(frozen=True)
class BusyStop:
    """A stop with a job in hand: SIGTERM to exit, and from the job's stored result to exit."""

    signal_to_exit_s: float
    result_to_exit_s: float


def busy_stop_seconds(runs: int, job_seconds: float = 2.0, signal_after_s: float = 0.5) -> list[BusyStop]:
    """SIGTERM ``signal_after_s`` into a ``job_seconds`` blocking job: the drain waits for the job."""
    figures = []
    with temporary_dir("bench-busy-stop-") as tmp, EngineProcess(tmp / "engine.db") as engine:
        for _ in range(runs):
            with WorkerRun(engine.url, EXAMPLES, tmp) as worker:
                figures.append(_busy_stop(engine.url, worker, job_seconds, signal_after_s))
    return figures


def _busy_stop(url: str, worker: WorkerRun, job_seconds: float, signal_after_s: float) -> BusyStop:
    (job_id,) = add_jobs(url, SLEEP, 1, seconds=job_seconds)
    wait_for(lambda: job(url, job_id)["status"] != "pending", 30)
    claimed = epoch(job(url, job_id)["claimedAt"])
    time.sleep(max(0.0, claimed + signal_after_s - time.time()))
    started = time.perf_counter()
    worker.stop()
    stopped, exited = time.perf_counter() - started, time.time()
    return BusyStop(stopped, exited - epoch(job(url, job_id)["finishedAt"]))


# --- command line -------------------------------------------------------------------------------------


def _summary(values: list[float]) -> str:
    return f"median {statistics.median(values):.3f} s, max {max(values):.3f} s over {len(values)}"


def main() -> None:
    """Run the worker benchmarks and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=1000, help="queued no-op jobs to drain (default 1000)")
    parser.add_argument(
        "--block-seconds", type=float, default=5.0, help="length of the blocking job (default 5)"
    )
    parser.add_argument("--stops", type=int, default=5, help="stops to time (default 5)")
    parser.add_argument("--pickups", type=int, default=20, help="pickup samples per setting (default 20)")
    args = parser.parse_args()
    worker, bare = drain_rate(args.jobs), bare_client_rate(args.jobs)
    print(f"drain rate, {args.jobs} queued no-op jobs, 1 worker process: {worker:8.1f} jobs/s")
    print(f"bare httpx client, poll(limit=1) + result, same engine:   {bare:8.1f} cycles/s")
    print(f"worker / bare httpx client:                                {worker / bare:8.2f}")
    for interval in (10.0, 1.0):
        latencies = pickup_latencies(interval, args.pickups)
        print(f"pickup latency, idle worker, POLL_INTERVAL={interval:g}: {_summary(latencies)}")
    gap, pings = heartbeat_gap(args.block_seconds)
    print(f"largest heartbeat gap, {args.block_seconds:g} s blocking job, HEARTBEAT_INTERVAL=1: {gap:.3f} s")
    print(f"  ({pings} pings)")
    print(f"SIGTERM to exit, idle worker: {_summary(idle_stop_seconds(args.stops))}")
    busy = busy_stop_seconds(args.stops)
    print(f"SIGTERM to exit, 2 s job in hand: {_summary([b.signal_to_exit_s for b in busy])}")


if __name__ == "__main__":
    main()
