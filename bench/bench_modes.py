"""The worker in both job-isolation modes, beside its references: a bare client and the vendor SDK.

Every figure is of the real ``neops_worker`` process tree (the daemon and any job process), started
with ``JOB_ISOLATION=thread`` and with ``JOB_ISOLATION=process``:

- drain rate and CPU ms per no-op job, against the local engine and against the slower stand-in
  (``bench/standin.py``), beside the bare synchronous httpx client (``bench/bare_client.py``);
  CPU is read from ``/proc`` between the first claim and the last result, so start-up is left out;
- start to first request and to last block registered with 200 generated blocks, beside the
  thread mode and the vendor SDK's figures (measured once on the same machine, see ISSUE_FIGURES);
- idle PSS of the whole process tree, beside the thread mode and the budget of each mode;
- crash to next claim: a block that calls ``os._exit(1)``, queued before a no-op job, with the
  200 generated blocks served too.

An isolation mode the worker does not know (yet) behaves like the other or is reported as an exit
code; nothing here fails on it. Prints figures; asserts nothing.

    uv run python -m bench.bench_modes --jobs 1000 --repeats 3 --starts 3
    uv run python -m bench.bench_modes --only drain
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bench.bench_worker import generate_blocks
from bench.common import BENCH_BLOCKS, NOOP, ROOT, WorkerRun, add_jobs, epoch, job, jobs, temporary_dir
from bench.proctree import CpuSampler, tree_pss_kb
from bench.standin import Record, StandIn
from neops_worker.devkit.local_engine import EngineProcess

MODES = ("thread", "process")
CRASH = "bench.neops/crash:1.0.0"
CRASH_BLOCKS = ROOT / "bench" / "crash_blocks"
#: The vendor worker SDK on this machine, 200 blocks, cold (issue 12): start to first request, to last block.
VENDOR_FIRST_REQUEST_S = 0.87
VENDOR_LAST_BLOCK_S = 1.83
#: Idle PSS budgets of the whole tree with 200 blocks (issue 12), MiB.
PSS_BUDGET_MIB = {"thread": 50.0, "process": 80.0}


class Process(Protocol):
    """What is measured: a child process that can be asked to stop."""

    @property
    def pid(self) -> int:
        """Its process id."""
        ...

    def exited(self) -> int | None:
        """Its exit code, once it ended."""
        ...

    def stop(self) -> int | None:
        """Stop it (SIGTERM) and wait; its exit code."""
        ...


class DrainEngine(Protocol):
    """An engine a drain runs against: queue jobs, wait for their results, read the span."""

    url: str

    def queue(self, fb_id: str, count: int) -> None:
        """Put ``count`` jobs of ``fb_id`` on the queue."""
        ...

    def finished(self, count: int) -> bool:
        """Whether the ``count`` queued jobs all have their result."""
        ...

    def span(self) -> tuple[float, float]:
        """Epoch times of the first claim and of the last result."""
        ...


# --- the engines ---------------------------------------------------------------------------------


class LocalDrain:
    """The local engine as a child process, read through its development endpoints."""

    def __init__(self, engine: EngineProcess) -> None:
        self.url = engine.url
        self.ids: list[str] = []

    def queue(self, fb_id: str, count: int) -> None:
        """Queue over one connection."""
        self.ids += add_jobs(self.url, fb_id, count)

    def finished(self, count: int) -> bool:
        """Jobs are claimed in queue order: the last one has a result (a cheap look at one row), and no
        claimed one is still without (several slots may finish out of order)."""
        last_done = bool(job(self.url, self.ids[-1])["status"] == "pushed")
        return last_done and not jobs(self.url, status="polled")

    def span(self) -> tuple[float, float]:
        """By the engine's own clock (milliseconds)."""
        rows = jobs(self.url)
        return min(epoch(r["claimedAt"]) for r in rows), max(epoch(r["finishedAt"]) for r in rows)


class StandInDrain:
    """The stand-in, read through its request records."""

    def __init__(self, standin: StandIn) -> None:
        self.standin = standin
        self.url = standin.url

    def queue(self, fb_id: str, count: int) -> None:
        """Pre-fill the queue."""
        self.standin.queue(fb_id, count)

    def finished(self, count: int) -> bool:
        """As many result pushes as jobs arrived."""
        return self.standin.count("result") >= count

    def span(self) -> tuple[float, float]:
        """By the times the requests arrived."""
        records = self.standin.records()
        return _first(records, "claim"), max(r.at for r in records if r.kind == "result")


@contextmanager
def engine_of(kind: str) -> Iterator[DrainEngine]:
    """A fresh engine of ``kind`` (``local`` or ``stand-in``)."""
    if kind == "stand-in":
        with StandIn() as standin:
            yield StandInDrain(standin)
        return
    with temporary_dir("bench-modes-") as tmp, EngineProcess(tmp / "engine.db") as engine:
        yield LocalDrain(engine)


def _first(records: list[Record], kind: str) -> float:
    return min(r.at for r in records if r.kind == kind)


# --- the clients -------------------------------------------------------------------------------------


class Worker:
    """The ``neops_worker`` console script with ``JOB_ISOLATION`` set."""

    def __init__(self, url: str, mode: str, cwd: Path, **extra: str) -> None:
        self.run = WorkerRun(url, BENCH_BLOCKS, cwd, JOB_ISOLATION=mode, **extra)

    @property
    def pid(self) -> int:
        """The daemon's process id."""
        return self.run.pid

    def exited(self) -> int | None:
        """The exit code once it ended."""
        return self.run.process.poll()

    def stop(self) -> int | None:
        """SIGTERM and wait."""
        return self.run.stop()


class BareClient:
    """``python -m bench.bare_client``: drains the queue and exits."""

    def __init__(self, url: str) -> None:
        command = [sys.executable, "-m", "bench.bare_client", url]
        self.process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL)

    @property
    def pid(self) -> int:
        """Its process id."""
        return self.process.pid

    def exited(self) -> int | None:
        """The exit code once it ended."""
        return self.process.poll()

    def stop(self) -> int | None:
        """Wait for it to finish (it exits on the first empty poll)."""
        return self.process.wait(60)


def wait_until(done: Callable[[], bool], process: Process, timeout: float, poll: float = 0.1) -> bool:
    """Wait for ``done``; False if the process ended first or the time ran out."""
    deadline = time.monotonic() + timeout
    while not done():
        if process.exited() is not None or time.monotonic() > deadline:
            return done()
        time.sleep(poll)
    return True


# --- drain rate and CPU ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Drain:
    """One drain: jobs done, first claim to last result, the tree's CPU over it, processes seen."""

    jobs: int
    seconds: float
    cpu_s: float
    processes: int
    exit_code: int | None

    @property
    def rate(self) -> float:
        """Jobs per second."""
        return self.jobs / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_ms_per_job(self) -> float:
        """CPU milliseconds of the whole process tree per job."""
        return 1000 * self.cpu_s / self.jobs if self.jobs else 0.0


def drain(engine_kind: str, client: str, count: int, workers: int = 1, **extra: str) -> Drain:
    """``client`` (``bare`` or an isolation mode) drains ``count`` queued no-op jobs from a fresh engine.

    ``workers`` worker daemons side by side (their CPU summed); ``extra`` settings go to each
    (``WORKER_SLOTS``...).
    """
    with engine_of(engine_kind) as engine, temporary_dir("bench-modes-run-") as tmp:
        engine.queue(NOOP, count)
        processes: list[Process] = (
            [BareClient(engine.url)]
            if client == "bare"
            else [Worker(engine.url, client, tmp, **extra) for _ in range(workers)]
        )
        with contextlib.ExitStack() as stack:
            cpus = [stack.enter_context(CpuSampler(process.pid)) for process in processes]
            finished = wait_until(lambda: engine.finished(count), processes[0], 60 + count / 20, 0.25)
        codes = [process.stop() for process in processes]
        code = next((c for c in codes if c != 0), codes[0])
        most = sum(cpu.most_processes for cpu in cpus)
        if not finished:
            return Drain(0, 0.0, 0.0, most, code)
        first, last = engine.span()
        used = sum(cpu.at(last) - cpu.at(first) for cpu in cpus)
        return Drain(count, last - first, used, most, code)


# --- start-up and memory ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Startup:
    """One start with many blocks: to the first request, to the last block registered; idle PSS."""

    first_request_s: float
    last_block_s: float
    idle_pss_kb: int
    processes: int
    exit_code: int | None


def startup(mode: str, blocks: Path, count: int, settle_s: float = 2.0) -> Startup:
    """Start a worker on ``count`` blocks against a fresh stand-in; PSS ``settle_s`` after the last block."""
    with StandIn() as standin, temporary_dir("bench-modes-start-") as tmp:
        started = time.time()
        worker = Worker(standin.url, mode, tmp, DIR_FUNCTION_BLOCKS=str(blocks))
        registered = wait_until(lambda: standin.count("block") >= count, worker, 60, 0.02)
        time.sleep(settle_s if registered else 0)  # let the idle worker settle before reading its memory
        pss, processes = tree_pss_kb(worker.pid) if worker.exited() is None else (0, 0)
        code = worker.stop()
        records = standin.records()
    if not registered:
        return Startup(0.0, 0.0, 0, 0, code)
    blocks_at = max(r.at for r in records if r.kind == "block")
    return Startup(records[0].at - started, blocks_at - started, pss, processes, code)


# --- a crashing block ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CrashRun:
    """A block that exits its process, then a no-op job: what happened and how long the next claim took."""

    exit_code: int | None
    crash_result: str | None
    claim_to_next_s: float | None
    result_to_next_s: float | None


def crash(mode: str, generated: Path) -> CrashRun:
    """Queue a crashing job and a no-op job on a stand-in; time from the crash to the next claim.

    The worker serves the generated blocks too, so that a replacement that re-imported them would show.
    """
    with StandIn() as standin, temporary_dir("bench-modes-crash-") as tmp:
        (crash_id,) = standin.queue(CRASH, 1)
        standin.queue(NOOP, 1)
        dirs = f"{BENCH_BLOCKS},{CRASH_BLOCKS},{generated}"
        worker = Worker(standin.url, mode, tmp, DIR_FUNCTION_BLOCKS=dirs)
        wait_until(lambda: standin.count("result") >= 2, worker, 60)
        code = worker.exited()
        worker.stop()
        records = standin.records()
    return _crash_figures(records, crash_id, code)


def _crash_figures(records: list[Record], crash_id: str, code: int | None) -> CrashRun:
    claims = [r for r in records if r.kind == "claim"]
    crashed = next((r for r in claims if r.job_id == crash_id), None)
    pushed = next((r for r in records if r.kind == "result" and r.job_id == crash_id), None)
    after = [r for r in claims if r.job_id != crash_id and crashed and r.at > crashed.at]
    if crashed is None or not after:
        return CrashRun(code, pushed.status if pushed else None, None, None)
    to_next = after[0].at - crashed.at
    from_result = after[0].at - pushed.at if pushed else None
    return CrashRun(code, pushed.status if pushed else None, to_next, from_result)


# --- the report -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sizes:
    """How much to run."""

    jobs: int = 1000
    blocks: int = 200
    starts: int = 3
    crashes: int = 2
    #: Drains per row of the drain table (interleaved); the row shows their medians.
    repeats: int = 3


def _ratio(value: float, reference: float) -> str:
    return f"{value / reference:.2f}" if reference else "n/a"


def exit_note(code: int | None) -> str:
    return "" if code in (0, None) else f" (exit {code})"


#: The clients of the drain table, in its order.
DRAIN_CLIENTS = ("bare", *MODES)


def drain_lines(sizes: Sizes) -> list[str]:
    """The drain table: every client on both engines, each beside the bare client on that engine."""
    lines = [
        "| engine | client | jobs/s | / bare | CPU ms/job | / bare | processes |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind in ("local", "stand-in"):
        runs: dict[str, list[Drain]] = {client: [] for client in DRAIN_CLIENTS}
        for _ in range(sizes.repeats):
            for client in DRAIN_CLIENTS:  # interleaved, so that a burst of load hits every client
                runs[client].append(drain(kind, client, sizes.jobs))
        medians = {client: median_drain(found) for client, found in runs.items()}
        lines += [_drain_row(kind, client, medians[client], medians["bare"]) for client in DRAIN_CLIENTS]
    return lines


def median_drain(runs: list[Drain]) -> Drain:
    """The median rate and the median CPU per job of the drains that finished, as one drain."""
    done = [run for run in runs if run.jobs]
    codes = [run.exit_code for run in runs if run.exit_code not in (0, None)]
    processes = max(run.processes for run in runs)
    if not done:
        return Drain(0, 0.0, 0.0, processes, codes[0] if codes else None)
    jobs = done[0].jobs
    rate = statistics.median(run.rate for run in done)
    cpu_ms = statistics.median(run.cpu_ms_per_job for run in done)
    return Drain(jobs, jobs / rate, cpu_ms * jobs / 1000, processes, codes[0] if codes else 0)


def _drain_row(kind: str, client: str, run: Drain, bare: Drain) -> str:
    name = "bare sync httpx client" if client == "bare" else f"worker, JOB_ISOLATION={client}"
    return (
        f"| {kind} | {name}{exit_note(run.exit_code)} | {run.rate:.0f} | {_ratio(run.rate, bare.rate)} "
        f"| {run.cpu_ms_per_job:.2f} | {_ratio(run.cpu_ms_per_job, bare.cpu_ms_per_job)} | {run.processes} |"
    )


def startup_lines(sizes: Sizes) -> list[str]:
    """The start-up and memory table: medians per mode beside the thread mode, the SDK and the budgets."""
    with temporary_dir("bench-modes-blocks-") as tmp:
        blocks = generate_blocks(tmp / "generated", sizes.blocks)
        cold = startup("thread", blocks, sizes.blocks)  # compiles the .pyc files; reported on its own
        runs: dict[str, list[Startup]] = {mode: [] for mode in MODES}
        for _ in range(sizes.starts):
            for mode in MODES:  # interleaved, so that a burst of load on the machine hits both
                runs[mode].append(startup(mode, blocks, sizes.blocks))
    medians = {mode: _median_startup(found) for mode, found in runs.items()}
    lines = [
        "| mode | start → first request | / thread | / SDK | start → last block | / thread | / SDK "
        "| idle PSS (tree) | / thread | / budget | processes |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [_startup_row(mode, medians[mode], medians["thread"]) for mode in MODES]
    lines.append(
        f"| thread, first start (compiles .pyc) | {cold.first_request_s:.2f} s | | "
        f"{_ratio(cold.first_request_s, VENDOR_FIRST_REQUEST_S)} | {cold.last_block_s:.2f} s | | "
        f"{_ratio(cold.last_block_s, VENDOR_LAST_BLOCK_S)} | {cold.idle_pss_kb / 1024:.1f} MiB | | | "
        f"{cold.processes} |"
    )
    return lines


def _median_startup(runs: list[Startup]) -> Startup:
    codes = [run.exit_code for run in runs if run.exit_code not in (0, None)]
    return Startup(
        statistics.median(run.first_request_s for run in runs),
        statistics.median(run.last_block_s for run in runs),
        int(statistics.median(run.idle_pss_kb for run in runs)),
        max(run.processes for run in runs),
        codes[0] if codes else 0,
    )


def _startup_row(mode: str, run: Startup, thread: Startup) -> str:
    pss = run.idle_pss_kb / 1024
    return (
        f"| {mode}{exit_note(run.exit_code)} | **{run.first_request_s:.2f} s** "
        f"| {_ratio(run.first_request_s, thread.first_request_s)} "
        f"| {_ratio(run.first_request_s, VENDOR_FIRST_REQUEST_S)} | **{run.last_block_s:.2f} s** "
        f"| {_ratio(run.last_block_s, thread.last_block_s)} "
        f"| {_ratio(run.last_block_s, VENDOR_LAST_BLOCK_S)} "
        f"| **{pss:.1f} MiB** | {_ratio(run.idle_pss_kb, thread.idle_pss_kb)} "
        f"| {_ratio(pss, PSS_BUDGET_MIB[mode])} | {run.processes} |"
    )


def crash_lines(sizes: Sizes) -> list[str]:
    """The crash table: per mode and run, what became of the worker and of the next job."""
    lines = [
        "| mode | run | worker | crashed job's result | crash claimed → next claim "
        "| its result → next claim |",
        "|---|---|---|---|---|---|",
    ]
    with temporary_dir("bench-modes-blocks-") as tmp:
        generated = generate_blocks(tmp / "generated", sizes.blocks)
        runs = [(mode, n, crash(mode, generated)) for mode in MODES for n in range(1, sizes.crashes + 1)]
    for mode, number, run in runs:
        alive = "exited " + str(run.exit_code) if run.exit_code is not None else "carried on"
        lines.append(
            f"| {mode} | {number} | {alive} | {run.crash_result or 'none'} "
            f"| {_seconds(run.claim_to_next_s)} | {_seconds(run.result_to_next_s)} |"
        )
    return lines


def _seconds(value: float | None) -> str:
    return "no next claim" if value is None else f"{value:.3f} s"


TABLES: dict[str, Callable[[Sizes], list[str]]] = {
    "drain": drain_lines,
    "startup": startup_lines,
    "crash": crash_lines,
}


def main() -> None:
    """Run the tables (all three, or those named by ``--only``) and print them."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=Sizes.jobs, help="no-op jobs per drain")
    parser.add_argument("--repeats", type=int, default=Sizes.repeats, help="drains per row (medians shown)")
    parser.add_argument("--blocks", type=int, default=Sizes.blocks, help="generated blocks for start-up")
    parser.add_argument("--starts", type=int, default=Sizes.starts, help="starts per mode (after a cold one)")
    parser.add_argument("--crashes", type=int, default=Sizes.crashes, help="crash runs per mode")
    parser.add_argument("--only", default=",".join(TABLES), help="tables to run: drain,startup,crash")
    args = parser.parse_args()
    sizes = Sizes(args.jobs, args.blocks, args.starts, args.crashes, args.repeats)
    for name in args.only.split(","):
        print("\n".join(TABLES[name](sizes)) + "\n", flush=True)


if __name__ == "__main__":
    main()
