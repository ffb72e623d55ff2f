"""Run every worker benchmark and the load and soak runs, and write the figures to ``bench/RESULTS.md``.

    uv run python bench/run_all.py               # everything, about 10 minutes
    uv run python bench/run_all.py --quick       # fewer samples, smaller load: a smoke run (~3 minutes)
    uv run python bench/run_all.py --only modes  # only these sections, replaced in the existing report

Figures only, no pass/fail: the machine is shared, so the load average is written beside each section.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from bench import bench_modes as modes
from bench import bench_slots as slots
from bench import bench_tracing as tracing
from bench import bench_worker as worker
from bench import handover, load, thread_cpu
from bench import profile_worker as profiler
from bench.common import BENCH_BLOCKS, ROOT, machine, temporary_dir

RESULTS = ROOT / "bench" / "RESULTS.md"


@dataclass(frozen=True)
class Sizes:
    """How much of everything to run."""

    drain_jobs: int = 1000
    pickups: int = 20
    block_seconds: float = 5.0
    blocks: int = 200
    starts: int = 4
    stops: int = 5
    fleet_workers: int = 8
    fleet_jobs: int = 20000
    soak_jobs: int = 50000
    soak_warmup: int = 5000
    mode_starts: int = 3
    crashes: int = 2
    profile_jobs: int = 3000
    drain_repeats: int = 3
    handover_calls: int = 20000
    slots: int = 8
    slot_sleep_jobs: int = 800


QUICK = Sizes(
    drain_jobs=300,
    pickups=4,
    block_seconds=2.0,
    starts=2,
    stops=2,
    fleet_jobs=2000,
    soak_jobs=3000,
    soak_warmup=500,
    mode_starts=1,
    crashes=1,
    profile_jobs=500,
    drain_repeats=1,
    handover_calls=2000,
    slot_sleep_jobs=200,
)


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def _med(values: list[float]) -> float:
    return statistics.median(values)


def _mib(kb: float) -> str:
    return f"{kb / 1024:.1f} MiB"


class Report:
    """Sections of figures, each with the load average when it was measured, printed as they come."""

    def __init__(self) -> None:
        self.sections: list[tuple[str, str, list[str]]] = []

    def section(self, title: str, measure: Callable[[], list[str]]) -> None:
        """Measure one section and keep its lines."""
        load_before = _load()
        print(f"\n## {title} (load {load_before})", flush=True)
        started = time.perf_counter()
        lines = measure()
        took = time.perf_counter() - started
        lines += ["", f"_Measured in {took:.0f} s; load average (1/5/15 min) before: {load_before}._"]
        for line in lines:
            print(line, flush=True)
        self.sections.append((title, load_before, lines))

    def markdown(self, header: list[str]) -> str:
        """The whole report."""
        body = [*header]
        for title, _, lines in self.sections:
            body += ["", f"## {title}", "", *lines]
        return "\n".join(body) + "\n"

    def spliced(self, existing: str) -> str:
        """``existing`` with this report's sections in place of those of the same title (new ones last)."""
        head, *chunks = existing.rstrip("\n").split("\n\n## ")
        old = {chunk.split("\n", 1)[0]: chunk for chunk in chunks}
        new = {title: "\n".join([title, "", *lines]) for title, _, lines in self.sections}
        kept = [new.pop(title, chunk) for title, chunk in old.items()]
        return "\n\n## ".join([head, *kept, *new.values()]) + "\n"


def throughput(sizes: Sizes) -> list[str]:
    """Drain rate of one worker beside bare clients on the same kind of engine."""
    drained = worker.drain_rate(sizes.drain_jobs)
    bare = worker.bare_client_rate(sizes.drain_jobs)
    raw_one = worker.raw_client_rate(sizes.drain_jobs, 1)
    many = 5 * sizes.drain_jobs
    raw_four = worker.raw_client_rate(many, 4)
    return [
        "| what | figure |",
        "|---|---|",
        f"| worker, {sizes.drain_jobs} queued no-op jobs, 1 process | **{drained:.0f} jobs/s** |",
        f"| bare httpx client, poll(limit=1) + result, one at a time | {bare:.0f} cycles/s |",
        f"| worker / bare httpx client | **{drained / bare:.2f}** |",
        f"| bench_engine.py raw HTTP/1.1 client, 1 connection | {raw_one:.0f} cycles/s |",
        f"| bench_engine.py raw client, 4 connections, {many} jobs | {raw_four:.0f} cycles/s |",
        "",
        "Each figure against a fresh `python -m neops_worker.devkit.local_engine` child process",
        "(SQLite file, WAL) with the same queue. The worker's rate runs from its first claim to its",
        "last result by the",
        "engine's clock; the clients time themselves. This bare httpx client runs on asyncio (the",
        "worker: httpx's synchronous transport on threads of its own); the raw client is bench_engine.py's,",
        "on uvloop.",
    ]


def pickup(sizes: Sizes) -> list[str]:
    """Pickup latency of an idle worker for the default and a short POLL_INTERVAL."""
    lines = ["| POLL_INTERVAL | median | max | samples |", "|---|---|---|---|"]
    for interval in (10.0, 1.0):
        values = worker.pickup_latencies(interval, sizes.pickups)
        lines.append(f"| {interval:g} s | {_med(values):.3f} s | {max(values):.3f} s | {len(values)} |")
    lines += [
        "",
        "Submitted at a random moment after the worker had been idle long enough for its backoff",
        "(POLL_MIN_INTERVAL 0.2 s, doubling) to reach POLL_INTERVAL: 12.6 s of empty polls for 10 s,",
        "1.4 s for 1 s. Latency is submit to the engine's `claimedAt`; about uniform on 0..POLL_INTERVAL.",
        "Right after a job the worker polls again at once, then 0.2 s, 0.4 s, ... later.",
    ]
    return lines


def heartbeat(sizes: Sizes) -> list[str]:
    """Largest heartbeat gap while a block blocks its thread."""
    gap, pings = worker.heartbeat_gap(sizes.block_seconds)
    return [
        f"Largest gap between pings, HEARTBEAT_INTERVAL=1 s, a {sizes.block_seconds:g} s job blocking its",
        f"thread with `time.sleep`: **{gap:.3f} s** ({pings} pings over the run).",
    ]


def startup_and_memory(sizes: Sizes) -> list[str]:
    """Time to ready with many blocks and with one; idle RSS of both."""
    with temporary_dir("bench-blocks-") as tmp:
        many = worker.startups(worker.generate_blocks(tmp / "generated", sizes.blocks), sizes.starts)
    one = worker.startups(BENCH_BLOCKS, sizes.starts)
    cold, warm = many[0], many[1:] or many
    return [
        "| blocks | run | blocks imported | ready (all registered) | idle RSS |",
        "|---|---|---|---|---|",
        f"| {sizes.blocks} | first (compiles .pyc) | {cold.discovered_s:.2f} s | {cold.ready_s:.2f} s "
        f"| {_mib(cold.idle_rss_kb)} |",
        f"| {sizes.blocks} | median of {len(warm)} more | {_med([s.discovered_s for s in warm]):.2f} s "
        f"| **{_med([s.ready_s for s in warm]):.2f} s** | {_mib(_med([s.idle_rss_kb for s in warm]))} |",
        f"| 1 | median of {len(one)} | {_med([s.discovered_s for s in one]):.2f} s "
        f"| {_med([s.ready_s for s in one]):.2f} s | **{_mib(_med([s.idle_rss_kb for s in one]))}** |",
        "",
        "From spawning `neops_worker` (default settings: JOB_ISOLATION=process) to its log lines 'Found N",
        "function block(s)' and 'registered -> idle', each start against a fresh local engine",
        "(REGISTRATION_CONCURRENCY 16); blocks are registered as they are found, so the two come close.",
        "RSS of the daemon alone, from /proc/<pid>/status 2 s after ready (the whole tree's PSS is in",
        "'Isolation modes: start-up and idle PSS').",
    ]


def stopping(sizes: Sizes) -> list[str]:
    """SIGTERM to exit, idle and with a job in hand."""
    idle = worker.idle_stop_seconds(sizes.stops)
    busy = worker.busy_stop_seconds(sizes.stops)
    to_exit = [b.signal_to_exit_s for b in busy]
    after_result = [b.result_to_exit_s for b in busy]
    return [
        "| state at SIGTERM | SIGTERM to exit, median | max |",
        "|---|---|---|",
        f"| idle (poll backoff asleep) | **{_med(idle):.3f} s** | {max(idle):.3f} s |",
        f"| 2 s job in hand, signalled 0.5 s in | {_med(to_exit):.3f} s | {max(to_exit):.3f} s |",
        f"| same, from the job's result stored to exit | **{_med(after_result):.3f} s** "
        f"| {max(after_result):.3f} s |",
        "",
        f"{sizes.stops} runs each. With a job in hand the worker finishes it, pushes the result,",
        "stops the heartbeat, unregisters and exits; about 1.5 s of that is the job itself.",
    ]


def fleet(sizes: Sizes) -> list[str]:
    """Several workers drain a big queue: exactly once, and how fast."""
    run = load.fleet_drain(sizes.fleet_workers, sizes.fleet_jobs)
    return [
        f"{run.workers} worker processes drained {run.jobs} queued no-op jobs in **{run.seconds:.1f} s**",
        f"({run.rate:.0f} jobs/s, engine clock). Exactly once: **{run.exactly_once}**: {run.pushed} results,",
        f"{run.claimed_once} jobs claimed exactly once, {run.failed_results} failed results,",
        f"{run.duplicate_pushes} duplicate result pushes (409), exit codes {sorted(set(run.exit_codes))}.",
        f"Jobs per worker: {', '.join(str(n) for n in run.per_worker)}.",
    ]


def soaking(sizes: Sizes) -> list[str]:
    """One worker, many jobs: does its memory grow?"""
    run = load.soak(sizes.soak_jobs, sizes.soak_warmup)
    return [
        f"One worker ran {run.jobs} no-op jobs in {run.seconds:.0f} s ({run.jobs / run.seconds:.0f} jobs/s);",
        f"exactly once: {run.exactly_once}; exit code {run.exit_code}.",
        f"RSS, {run.samples} samples every 0.5 s from /proc/<pid>/status:",
        "",
        "| point | RSS |",
        "|---|---|",
        f"| end of warm-up ({run.warmup_jobs} jobs) | {_mib(run.rss_warm_kb)} |",
        f"| highest after warm-up | {_mib(run.rss_max_after_kb)} |",
        f"| at the end | {_mib(run.rss_end_kb)} |",
        f"| growth after warm-up (highest vs end of warm-up) | **{run.growth:+.1%}** |",
    ]


def _mode_sizes(sizes: Sizes) -> modes.Sizes:
    return modes.Sizes(sizes.drain_jobs, sizes.blocks, sizes.mode_starts, sizes.crashes, sizes.drain_repeats)


def _machine_line() -> str:
    about = machine()
    return f"Machine: {about['cores']} cores, Python {about['python']}, {about['platform']}."


def modes_drain(sizes: Sizes) -> list[str]:
    """Drain rate and CPU per job in both isolation modes, on both engines, beside the bare client."""
    return [
        _machine_line(),
        "",
        *modes.drain_lines(_mode_sizes(sizes)),
        "",
        f"{sizes.drain_jobs} queued no-op jobs per drain, each drain against a fresh engine; each row is",
        f"the median of {sizes.drain_repeats} drains, the clients interleaved (bare, thread, process, bare,",
        "...), so that a burst of load from elsewhere hits them all. The engine: the local one",
        "(`python -m neops_worker.devkit.local_engine`, SQLite) or the stand-in (`bench/standin.py`,",
        "a stdlib `ThreadingHTTPServer` answering the contract, in a process of its own). The bare client is",
        "`bench/bare_client.py`: synchronous httpx, poll(limit 1) + result push, nothing else. jobs/s runs",
        "from the first claim to the last result (the engine's clock, or the stand-in's request times).",
        "CPU is user + system time of the whole process tree (the daemon, any job process, and children",
        "that ended), read from `/proc/<pid>/stat` every 10 ms and interpolated at the first claim and the",
        "last result, so start-up is left out. `processes`: the most processes seen in the tree.",
        "The worker runs with LOG_LEVEL=WARNING (no per-job log lines).",
    ]


def modes_startup(sizes: Sizes) -> list[str]:
    """Start-up with many blocks and idle PSS in both modes, beside the thread mode and the SDK."""
    return [
        *modes.startup_lines(_mode_sizes(sizes)),
        "",
        f"{sizes.blocks} generated blocks, each start against a fresh stand-in, which records when each",
        "request arrives; medians of "
        f"{sizes.mode_starts} starts per mode, interleaved, after one cold start that compiles the .pyc",
        "files. The SDK's figures (0.87 s to the first request, 1.83 s to the last block) are the vendor",
        "worker SDK's, measured once on this machine with the same 200 blocks, cold. Idle PSS: the sum of",
        "`Pss` in `/proc/<pid>/smaps_rollup` over the worker and all its descendants (found through",
        "`/proc/<pid>/task/*/children`), 2 s after the last block registered; budget: 50 MiB in thread",
        "mode, 80 MiB in process mode.",
    ]


def modes_crash(sizes: Sizes) -> list[str]:
    """A block that exits its process, queued before a no-op job: does the worker carry on, how fast."""
    return [
        *modes.crash_lines(_mode_sizes(sizes)),
        "",
        "The crashing block calls `os._exit(1)` at once, so the job's process dies right after its claim;",
        "the next claim is the no-op job queued behind it (times from the stand-in's records). In thread",
        "mode the block runs inside the daemon, which dies with it: the engine gets no result and, once",
        "the worker is given up as offline, fails the job itself.",
    ]


def by_thread(sizes: Sizes) -> list[str]:
    """CPU per no-op job by thread of the daemon and by child process, in both modes, no profiler."""
    return [
        "| mode | thread or process | CPU ms/job | share |",
        "|---|---|---|---|",
        *(line for mode in modes.MODES for line in thread_cpu.lines(sizes.profile_jobs, mode)),
        "",
        f"{sizes.profile_jobs} no-op jobs drained from the stand-in, one drain per mode, nothing attached to",
        "the daemon (`bench/thread_cpu.py`): each thread's user + system time from",
        "`/proc/<pid>/task/<tid>/stat` between the first claim and the last result, named by the daemon",
        "itself; `neops-engine-*` are the engine client's threads (the HTTP requests), `child processes`",
        "the job process and its template.",
    ]


def handovers(sizes: Sizes) -> list[str]:
    """One round trip between the event loop and another thread, for a call that does nothing."""
    return [
        *asyncio.run(handover.lines(sizes.handover_calls)),
        "",
        f"{sizes.handover_calls} calls per row, awaited one after another (`bench/handover.py`): user +",
        "system time of the process per call. Each engine request of the worker pays one such round trip",
        "on top of the request itself; handing a job to its job process and back costs one of the same kind,",
        "through a socket. The bare client pays none: it is one thread, blocking.",
    ]


def profile(sizes: Sizes, mode: str) -> list[str]:
    """Where the daemon's CPU goes per no-op job (cProfile, against the stand-in)."""
    with temporary_dir("bench-profile-") as tmp:
        output = tmp / "worker.prof"
        took = profiler.profile(sizes.profile_jobs, mode, output)
        lines = profiler.report(output, sizes.profile_jobs, 20)
    return [
        f"{sizes.profile_jobs} no-op jobs drained from the stand-in in {took:.1f} s with the daemon "
        f"(JOB_ISOLATION={mode}) under",
        "`cProfile`, each thread timed by its own CPU clock (`bench/profile_worker.py`; the profiler",
        "inflates every call, so read shares, not times; a job process is not profiled). Own time",
        "(`tottime`) per part of the stack:",
        "",
        *lines,
    ]


def slot_figures(sizes: Sizes) -> list[str]:
    """N slots in one daemon beside one slot, N single-slot workers and the bare client, 200 blocks."""
    measured = slots.Sizes(
        slots=sizes.slots,
        blocks=sizes.blocks,
        starts=max(1, sizes.mode_starts - 1),
        sleep_jobs=sizes.slot_sleep_jobs,
        noop_jobs=sizes.drain_jobs,
        repeats=sizes.drain_repeats,
    )
    return [_machine_line(), "", *slots.lines(measured), "", *_slot_notes(sizes, measured)]


def _slot_notes(sizes: Sizes, measured: slots.Sizes) -> list[str]:
    n = sizes.slots
    return [
        "`bench/bench_slots.py`, the real daemon (JOB_ISOLATION=process), on the local engine.",
        f"**Memory and start-up**: {sizes.blocks} generated blocks; each layout started against a fresh",
        f"local engine, {measured.starts} rounds interleaved after one cold start; medians. `{n} workers`",
        f"are {n} single-slot daemons spawned together. Start → every slot registered: from the first",
        "spawn to the last slot's 'registered -> idle' log line, which follows its block registrations",
        f"(so the engine's work for {n} x {sizes.blocks} registrations is in both). Memory 2 s later, of",
        "every process of the trees (daemon, template, job processes): PSS, the sum of each process's",
        "RSS, and **charged**, an estimate of what a container's memory cgroup is charged for them: each",
        "page once. Anonymous pages by their PSS (shared only inside the tree, copy-on-write after the",
        "fork from the template, so their PSS adds up to each page once); file pages (the interpreter,",
        "libraries) as the largest file RSS of one process, all of it, as a pod that read those files",
        "first is charged; and every process's page tables. PSS alone undercounts a pod: it gives part",
        "of each library page to other Python processes on this host. RSS summed overcounts it: it",
        "counts every page a job process shares with its template again.",
        "",
        *slots.vendor_notes(sizes.blocks),
        "",
        f"**Drain**: one daemon with 1 slot drains {measured.single_sleep_jobs} jobs of the example",
        f"`sleep` block ({measured.sleep_seconds:g} s), then one with {n} slots drains",
        f"{measured.sleep_jobs}, each against a fresh engine with the jobs queued before the start; jobs/s",
        "from the first claim to the last result by the engine's clock. Exactly once: every job has one",
        "result, was claimed once, none failed, no result was refused as a duplicate (409) and the",
        "daemon exited 0; jobs per slot by the worker id the engine recorded.",
        "",
        f"**CPU**: {measured.noop_jobs} queued no-op jobs per drain, medians of {measured.repeats} drains,",
        "the clients interleaved, each drain against a fresh local engine or stand-in, as in 'Isolation",
        "modes: drain rate and CPU per job': user + system time of the whole tree (of every tree, for",
        "separate workers) from the first claim to the last result. No-op jobs keep every slot busy at",
        "once: more busy slots than cores share the cores, and each job then costs more CPU (caches",
        "refilled at every switch, the interpreter lock handed between the client's threads), whether",
        "the slots are in one daemon or in separate workers; as many slots as cores cost what one does.",
    ]


def tracing_figures(sizes: Sizes) -> list[str]:
    """The tracing table, and how it was measured."""
    jobs, repeats = sizes.drain_jobs, sizes.drain_repeats
    return [
        *tracing.table(jobs, repeats),
        "",
        f"`bench/bench_tracing.py`: {jobs} queued no-op jobs per drain, medians of {repeats} drains, off and",
        "on alternated, each against a fresh local engine: CPU of the worker's whole tree from the first",
        "claim to the last result. On: `OTEL_EXPORTER_OTLP_ENDPOINT` points at an OTLP/HTTP receiver on",
        "127.0.0.1 (in the benchmark's process, not in the tree) that decodes every export: 3 spans a",
        "job (the job, the result push, its attempt), exported by the daemon's batch processor.",
    ]


def sections(sizes: Sizes) -> list[tuple[str, str, Callable[[], list[str]]]]:
    """(key for ``--only``, title, measurement) of every section, in report order."""
    return [
        ("throughput", "Throughput: one worker vs bare clients", lambda: throughput(sizes)),
        ("pickup", "Pickup latency of an idle worker", lambda: pickup(sizes)),
        ("heartbeat", "Heartbeat during a blocking job", lambda: heartbeat(sizes)),
        (
            "startup",
            f"Start-up time with {sizes.blocks} blocks, and idle RSS",
            lambda: startup_and_memory(sizes),
        ),
        ("stop", "SIGTERM to exit", lambda: stopping(sizes)),
        ("load", f"Load: {sizes.fleet_workers} workers, {sizes.fleet_jobs} jobs", lambda: fleet(sizes)),
        ("load", f"Soak: one worker, {sizes.soak_jobs} jobs", lambda: soaking(sizes)),
        ("modes", "Isolation modes: drain rate and CPU per job", lambda: modes_drain(sizes)),
        ("modes", "Isolation modes: start-up and idle PSS", lambda: modes_startup(sizes)),
        ("modes", "Isolation modes: a crashing block", lambda: modes_crash(sizes)),
        ("modes", "Isolation modes: CPU per job by thread", lambda: by_thread(sizes)),
        ("modes", "One hand-over between threads", lambda: handovers(sizes)),
        ("modes", "Profile of the per-job path", lambda: profile(sizes, "thread")),
        ("modes", "Profile of the per-job path, process mode", lambda: profile(sizes, "process")),
        ("slots", f"Slots: {sizes.slots} in one daemon, {sizes.blocks} blocks", lambda: slot_figures(sizes)),
        ("tracing", "Tracing: CPU per no-op job, off and on", lambda: tracing_figures(sizes)),
    ]


def main() -> None:
    """Measure everything (or the ``--only`` sections) and write the report."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer samples and a smaller load (smoke run)")
    parser.add_argument("--skip-load", action="store_true", help="leave out the fleet drain and the soak")
    parser.add_argument(
        "--only",
        help="comma-separated keys (throughput, pickup, heartbeat, startup, stop, load, modes, slots): "
        "run only these and replace their sections in the existing report",
    )
    parser.add_argument("--output", default=str(RESULTS), help="where to write the report")
    args = parser.parse_args()
    sizes = QUICK if args.quick else Sizes()
    wanted = set(args.only.split(",")) if args.only else None
    about = machine()
    started = datetime.now(UTC)
    report = Report()
    for key, title, measure in sections(sizes):
        if (wanted is None or key in wanted) and not (args.skip_load and key == "load"):
            report.section(title, measure)
    if wanted is not None:
        with open(args.output) as existing:
            text = report.spliced(existing.read())
    else:
        text = report.markdown(_header(args.quick, about, started))
    with open(args.output, "w") as out:
        out.write(text)
    print(f"\nwrote {args.output}")


def _header(quick: bool, about: dict[str, str], started: datetime) -> list[str]:
    return [
        "# Worker benchmarks",
        "",
        f"Written by `uv run python bench/run_all.py{' --quick' if quick else ''}` on "
        f"{started:%Y-%m-%d %H:%M} UTC, in {(datetime.now(UTC) - started).total_seconds() / 60:.1f} min.",
        f"Machine: {about['cores']} cores, Python {about['python']}, {about['platform']}.",
        f"Load average (1/5/15 min) at the start: {about['load']}; at the end: {_load()}.",
        "The machine is shared with other test runs, so figures are noisy: compare ratios, not absolutes.",
        "All processes talk over loopback to the local engine (`neops_worker.devkit.local_engine`) or to the",
        "engine stand-in (`bench/standin.py`), not to the production engine.",
    ]


if __name__ == "__main__":
    main()
