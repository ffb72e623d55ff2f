"""Worker benchmarks: drain rate vs a bare client, heartbeat gap during a blocking job, idle stop time.

Runs the real ``neops_worker`` process against the local engine on loopback and prints figures;
it asserts nothing. ``uv run python bench/bench_worker.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx

from neops_worker.local_engine import EngineOptions, EngineProcess, LocalEngine
from neops_worker.wire import JobExecutionResult, JobPoll, JobResult, RegisterFunctionBlock, RegisterWorker

ROOT = Path(__file__).resolve().parents[1]
BENCH_BLOCKS = ROOT / "bench" / "blocks"
EXAMPLES = ROOT / "function_blocks"
WORKER = str(Path(sys.executable).parent / "neops_worker")
NOOP = "bench.neops/noop:1.0.0"


def worker_env(url: str, blocks: Path, **extra: Any) -> dict[str, str]:
    """The environment of a benchmarked worker process."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR", "VIRTUAL_ENV")}
    env.update(
        {
            "URL_BLACKBOARD": url,
            "DIR_FUNCTION_BLOCKS": str(blocks),
            "LOG_LEVEL": "WARNING",
            "POLL_INTERVAL": "1",
            "HEARTBEAT_INTERVAL": "5",
        }
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


def add_jobs(url: str, fb_id: str, count: int, **parameters: Any) -> list[str]:
    """Queue ``count`` jobs through the development endpoint."""
    with httpx.Client(base_url=url, timeout=30) as client:
        return [
            client.post("/_dev/jobs", json={"functionBlockId": fb_id, "parameters": parameters}).json()[
                "jobId"
            ]
            for _ in range(count)
        ]


def pending(url: str) -> int:
    """Jobs without a result yet."""
    jobs = httpx.get(f"{url}/_dev/jobs", timeout=30).json()
    return sum(1 for job in jobs if job["status"] != "pushed")


def wait_for(predicate: Callable[[], bool], timeout: float, poll: float = 0.02) -> float:
    """Seconds until ``predicate`` held (raises on timeout)."""
    started = time.perf_counter()
    while not predicate():
        if time.perf_counter() - started > timeout:
            raise TimeoutError("benchmark condition not reached")
        time.sleep(poll)
    return time.perf_counter() - started


def drain_rate(jobs: int) -> float:
    """Jobs/s of one real worker process draining ``jobs`` queued no-op jobs."""
    with tempfile.TemporaryDirectory() as tmp, EngineProcess(Path(tmp) / "engine.db") as engine:
        add_jobs(engine.url, NOOP, jobs)
        process = subprocess.Popen([WORKER], env=worker_env(engine.url, BENCH_BLOCKS), cwd=tmp)
        try:
            wait_for(lambda: pending(engine.url) < jobs, 30, 0.005)
            started = time.perf_counter()
            wait_for(lambda: pending(engine.url) == 0, 300, 0.05)
            elapsed = time.perf_counter() - started
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(30)
    return (jobs - 1) / elapsed


async def _bare_cycles(url: str, jobs: int) -> float:
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


def bare_client_rate(jobs: int) -> float:
    """Poll + result cycles/s of a bare sequential client (one job at a time, like the worker)."""
    with tempfile.TemporaryDirectory() as tmp, EngineProcess(Path(tmp) / "engine.db") as engine:
        add_jobs(engine.url, NOOP, jobs)
        return asyncio.run(_bare_cycles(engine.url, jobs))


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
        tempfile.TemporaryDirectory() as tmp,
        LocalEngine(wrap_app=recorder, options=EngineOptions(heartbeat_interval_s=1)) as engine,
    ):
        add_jobs(engine.url, "fb.examples.neops/sleep:1.0.0", 1, seconds=block_seconds)
        process = subprocess.Popen(
            [WORKER], env=worker_env(engine.url, EXAMPLES, HEARTBEAT_INTERVAL=1), cwd=tmp
        )
        try:
            wait_for(lambda: pending(engine.url) == 0, block_seconds + 30, 0.1)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(30)
    during = [b - a for a, b in pairwise(pings)]
    return max(during), len(pings)


def idle_stop_seconds(runs: int) -> list[float]:
    """Seconds from SIGTERM to exit of an idle, registered worker."""
    figures = []
    with tempfile.TemporaryDirectory() as tmp, EngineProcess(Path(tmp) / "engine.db") as engine:
        for _ in range(runs):
            process = subprocess.Popen(
                [WORKER], env=worker_env(engine.url, BENCH_BLOCKS, POLL_INTERVAL=10), cwd=tmp
            )
            wait_for(
                lambda: any(w["state"] == "online" for w in httpx.get(f"{engine.url}/_dev/workers").json()),
                30,
            )
            time.sleep(1.5)  # let the poll backoff reach a long sleep: the worst case for a stop
            started = time.perf_counter()
            process.send_signal(signal.SIGTERM)
            process.wait(30)
            figures.append(time.perf_counter() - started)
            httpx.post(f"{engine.url}/_dev/sweep")
    return figures


def main() -> None:
    """Run the worker benchmarks and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=200, help="queued no-op jobs to drain (default 200)")
    parser.add_argument(
        "--block-seconds", type=float, default=5.0, help="length of the blocking job (default 5)"
    )
    parser.add_argument("--stops", type=int, default=5, help="idle stops to time (default 5)")
    args = parser.parse_args()
    worker = drain_rate(args.jobs)
    bare = bare_client_rate(args.jobs)
    print(f"drain rate, {args.jobs} queued no-op jobs, 1 worker process: {worker:8.1f} jobs/s")
    print(f"bare client, poll(limit=1) + result, same engine:          {bare:8.1f} cycles/s")
    print(f"worker / bare client:                                      {worker / bare:8.2f}")
    gap, pings = heartbeat_gap(args.block_seconds)
    print(
        f"largest heartbeat gap, {args.block_seconds:g} s blocking job, HEARTBEAT_INTERVAL=1: "
        f"{gap:.3f} s ({pings} pings)"
    )
    stops = idle_stop_seconds(args.stops)
    print(
        f"SIGTERM to exit, idle worker: median {statistics.median(stops):.3f} s, max {max(stops):.3f} s "
        f"over {len(stops)} runs"
    )


if __name__ == "__main__":
    main()
