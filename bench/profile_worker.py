"""Where the worker's CPU goes per no-op job: the daemon under ``cProfile``, draining the stand-in.

Every thread of the daemon (the event loop; the engine client's threads, where the HTTP requests
run; a job thread in thread mode) is profiled by its own CPU clock (``time.thread_time``: waiting in
``epoll`` or ``recv`` costs nothing), one profiler per thread, merged at the end; a job process is
not, and the no-op block costs next to nothing there. Start-up is inside the profile too, which
is why the drain is long (its share is printed). The profiler slows every Python call, so compare the
shares, not the times, with the bench figures.

    uv run python -m bench.profile_worker --jobs 3000 --mode thread
"""

from __future__ import annotations

import argparse
import pstats
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from bench.common import BENCH_BLOCKS, NOOP, worker_env
from bench.standin import StandIn

#: Where a function's file lives -> the part of the stack it is counted in.
GROUPS = (
    "httpx",
    "httpcore",
    "anyio",
    "h11",
    "sniffio",
    "pydantic",
    "logging",
    "asyncio",
    "json",
    "selectors",
    "neops_worker",
)


def _profiled(output: Path) -> str:
    """The daemon's entry point under cProfile, each thread timed by its own CPU clock (not the wall)."""
    return "\n".join(
        [
            "import cProfile, pstats, sys, threading, time",
            "from neops_worker.cli import main",
            "sys.argv = ['neops_worker']",
            "profilers = [cProfile.Profile(time.thread_time)]",
            "def in_thread(*_):",
            "    sys.setprofile(None)",
            "    profilers.append(cProfile.Profile(time.thread_time))",
            "    profilers[-1].enable()",
            "threading.setprofile(in_thread)",
            "try:",
            "    profilers[0].runcall(main)",
            "except SystemExit:",
            "    pass",
            "threading.setprofile(None)",
            "stats = pstats.Stats(profilers[0])",
            "for other in profilers[1:]:",
            "    try:",
            "        stats.add(other)",
            "    except TypeError:",  # a thread that made no call has no stats
            "        pass",
            "stats.dump_stats(" + repr(str(output)) + ")",
        ]
    )


def profile(jobs: int, mode: str, output: Path) -> float:
    """Drain ``jobs`` no-op jobs from a stand-in with the daemon under cProfile; seconds of the drain."""
    command = [sys.executable, "-c", _profiled(output)]
    with StandIn() as standin:
        standin.queue(NOOP, jobs)
        env = worker_env(standin.url, BENCH_BLOCKS, JOB_ISOLATION=mode)
        worker = subprocess.Popen(command, env=env, cwd=output.parent, stderr=subprocess.DEVNULL)
        started = time.monotonic()
        while standin.count("result") < jobs and worker.poll() is None:
            time.sleep(0.25)
        took = time.monotonic() - started
        worker.terminate()
        worker.wait(60)
    return took


def group_of(filename: str) -> str:
    """The stack part a function belongs to, by the path of its file."""
    parts = Path(filename).parts
    for group in GROUPS:
        if group in parts or f"{group}.py" in parts:
            return group
    return "(built-in)" if filename.startswith("~") else "other"


def by_group(stats: pstats.Stats) -> Counter[str]:
    """Own time (``tottime``) per stack part, in seconds."""
    totals: Counter[str] = Counter()
    for (filename, _line, _name), row in stats.stats.items():  # type: ignore[attr-defined]
        totals[group_of(filename)] += row[2]
    return totals


def report(output: Path, jobs: int, top: int) -> list[str]:
    """Shares per stack part and the functions with the most own time, as Markdown lines."""
    stats = pstats.Stats(str(output))
    groups = by_group(stats)
    total = sum(groups.values())
    lines = ["| part of the stack | own time | share | µs per job (profiled) |", "|---|---|---|---|"]
    for group, seconds in groups.most_common():
        lines.append(f"| {group} | {seconds:.2f} s | {seconds / total:.0%} | {1e6 * seconds / jobs:.0f} |")
    lines += ["", "| function | calls per job | own µs per job |", "|---|---|---|"]
    rows = sorted(stats.stats.items(), key=lambda item: -item[1][2])  # type: ignore[attr-defined]
    for (filename, line, name), row in rows[:top]:
        where = f"{group_of(filename)}: {Path(filename).name}:{line} {name}"
        lines.append(f"| `{where}` | {row[1] / jobs:.1f} | {1e6 * row[2] / jobs:.0f} |")
    return lines


def main() -> None:
    """Profile one drain and print the shares."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=3000, help="no-op jobs to drain (default 3000)")
    parser.add_argument("--mode", default="thread", help="JOB_ISOLATION of the worker (default thread)")
    parser.add_argument("--top", type=int, default=25, help="functions to list (default 25)")
    parser.add_argument("--output", default="worker.prof", help="where the raw profile is written")
    args = parser.parse_args()
    output = Path(args.output).resolve()
    took = profile(args.jobs, args.mode, output)
    print(f"{args.jobs} jobs drained under the profiler in {took:.1f} s\n")
    print("\n".join(report(output, args.jobs, args.top)))


if __name__ == "__main__":
    main()
