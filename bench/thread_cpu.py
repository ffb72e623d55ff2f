"""Where the worker's CPU goes per no-op job, by thread and process, without a profiler's distortion.

The daemon drains the stand-in with nothing attached; its threads' CPU times are read from
``/proc/<pid>/task/<tid>/stat`` at the first claim and at the last result, and those of its child
processes (the job process and its template) from ``/proc/<pid>/stat``. Each thread is named by
the daemon itself: a small wrapper notes ``native_id -> name`` of every Python thread as it exits.

    uv run python -m bench.thread_cpu --jobs 3000 --mode process
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from bench.common import BENCH_BLOCKS, NOOP, temporary_dir, worker_env
from bench.proctree import CLOCK_TICKS, cpu_seconds, tree
from bench.standin import StandIn

#: The daemon's entry point, noting the names of its threads (every 0.2 s, and at exit) in a file.
#: The watcher starts only after the template process is forked: a daemon with a thread running
#: would spawn its template instead (``runtime.early_template``).
WRAPPER = """
import atexit, json, sys, threading, time
import neops_worker.runtime as runtime
from neops_worker.cli import main
names, output = {}, sys.argv[1]
def note():
    names.update({t.native_id: t.name for t in threading.enumerate()})
def watch():
    while True:
        note()
        time.sleep(0.2)
def early_template(settings, fork=runtime.early_template):
    template = fork(settings)
    threading.Thread(target=watch, name='(bench: thread names)', daemon=True).start()
    return template
runtime.early_template = early_template
atexit.register(lambda: (note(), open(output, 'w').write(json.dumps(names))))
sys.argv = ['neops_worker']
main()
"""


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) of every thread of ``pid``, by native thread id."""
    found: dict[int, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the thread ended meanwhile
        found[int(task.name)] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return found


def children_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of every descendant process of ``pid`` (with its reaped children)."""
    return {child: cpu_seconds(child) for child in tree(pid)[1:]}


def measure(jobs: int, mode: str, names_file: Path) -> tuple[float, dict[str, float]]:
    """Drain ``jobs`` no-op jobs; the drain rate and CPU ms per job of each thread and child process."""
    with StandIn() as standin:
        standin.queue(NOOP, jobs)
        env = worker_env(standin.url, BENCH_BLOCKS, JOB_ISOLATION=mode)
        command = [sys.executable, "-c", WRAPPER, str(names_file)]
        daemon = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
        while standin.count("claim") < 1 and daemon.poll() is None:
            time.sleep(0.005)
        threads, children, started = thread_cpu(daemon.pid), children_cpu(daemon.pid), time.monotonic()
        while standin.count("result") < jobs and daemon.poll() is None:
            time.sleep(0.02)
        took = time.monotonic() - started
        threads_after, children_after = thread_cpu(daemon.pid), children_cpu(daemon.pid)
        daemon.terminate()
        daemon.wait(60)
    names = {int(tid): name for tid, name in json.loads(names_file.read_text()).items()}
    shares: dict[str, float] = {}
    for tid, seconds in threads_after.items():
        name = "MainThread (event loop)" if tid == daemon.pid else _family(names.get(tid, "(unnamed)"))
        if name.startswith("(bench"):
            continue  # the wrapper's own thread
        shares[name] = shares.get(name, 0.0) + seconds - threads.get(tid, 0.0)
    for pid, seconds in children_after.items():
        shares["child processes"] = shares.get("child processes", 0.0) + seconds - children.get(pid, 0.0)
    return jobs / took, {name: 1000 * seconds / jobs for name, seconds in shares.items()}


def _family(name: str) -> str:
    """Threads of one kind under one name: ``neops-engine-3`` -> ``neops-engine-*``; a job's thread."""
    head, _, tail = name.rpartition("-")
    if name.startswith("job-"):
        return "job-* (the block's thread)"
    return f"{head}-*" if head and tail.isdigit() else name


def lines(jobs: int, mode: str) -> list[str]:
    """The table for one mode, as Markdown lines."""
    with temporary_dir("bench-thread-cpu-") as tmp:
        rate, shares = measure(jobs, mode, tmp / "names.json")
    total = sum(shares.values())
    rows = [f"| {mode} | {name} | {ms:.2f} | {ms / total:.0%} |" for name, ms in _largest(shares)]
    return [*rows, f"| {mode} | **total** ({rate:.0f} jobs/s) | **{total:.2f}** | 100% |"]


def _largest(shares: dict[str, float]) -> list[tuple[str, float]]:
    return sorted(((name, ms) for name, ms in shares.items() if ms >= 0.005), key=lambda item: -item[1])


def main() -> None:
    """Measure one drain per mode and print the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=3000, help="no-op jobs to drain (default 3000)")
    parser.add_argument("--mode", action="append", help="JOB_ISOLATION (repeatable; default both)")
    args = parser.parse_args()
    print("| mode | thread or process | CPU ms/job | share |\n|---|---|---|---|")
    for mode in args.mode or ["thread", "process"]:
        print("\n".join(lines(args.jobs, mode)), flush=True)


if __name__ == "__main__":
    main()
