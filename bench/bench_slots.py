"""Slots (``WORKER_SLOTS``): one daemon with 8 slots beside 8 single-slot workers and one slot alone.

In one run, with 200 generated blocks, every figure of the real ``neops_worker`` process tree:

- idle memory of the whole tree (PSS, RSS, and what a container's memory cgroup would be charged):
  1 slot, 8 slots in one daemon, 8 separate single-slot workers started together; from 1 and 8 slots
  the sizing figure "base + per slot";
- start to every slot registered (each slot's "registered -> idle" log line, which follows its 200
  block registrations), the 8 slots of one daemon beside 8 workers started at the same moment,
  against a fresh local engine each time;
- 8 slots draining 800 jobs of 100 ms beside 8 x one slot's rate, each job exactly once;
- CPU per no-op job of the whole tree, 8 slots beside 1 slot and beside the bare client.

Beside them in the memory and start-up tables, the vendor SDK's own worker from ``.venv-sdk``
(``bench/vendor.py``) with 200 equivalent blocks written for the SDK, started and measured the same
way as one slot; where ``.venv-sdk`` is missing its rows say why it was not run.
Prints figures; asserts nothing.

    uv run python -m bench.bench_slots
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import bench_modes as modes
from bench import load, vendor
from bench.bench_worker import READY_LINE, generate_blocks
from bench.common import BENCH_BLOCKS, EXAMPLES, SLEEP, WorkerRun, temporary_dir
from bench.proctree import TreeMemory, tree_memory
from neops_worker.devkit.local_engine import EngineProcess

#: The vendor worker SDK's resident memory with 200 blocks, one worker (issue 19), MiB.
VENDOR_RSS_MIB = (88, 95)
#: The ways to serve N slots that are compared.
LAYOUTS = ("1 slot", "N slots, one daemon", "N workers")
#: The vendor SDK's own worker, started beside them when ``.venv-sdk`` has it.
VENDOR = "the vendor SDK's worker"


@dataclass(frozen=True)
class Sizes:
    """How much to run."""

    slots: int = 8
    blocks: int = 200
    #: Rounds of starts of every layout (interleaved), after one cold start that compiles the .pyc.
    starts: int = 2
    sleep_jobs: int = 800
    sleep_seconds: float = 0.1
    #: Jobs of the one-slot reference drain (it runs at a tenth of the rate of 8 slots).
    single_sleep_jobs: int = 100
    noop_jobs: int = 1000
    #: Drains per row of the CPU table (interleaved); the row shows their medians.
    repeats: int = 3


def _mib(kb: float) -> float:
    return kb / 1024


def _ratio(value: float, reference: float) -> str:
    return f"{value / reference:.2f}" if reference else "n/a"


# --- start-up and idle memory ------------------------------------------------------------------------


@dataclass(frozen=True)
class Start:
    """One start of a layout: first spawn to the last slot registered, idle memory, exit codes."""

    ready_s: float
    memory: TreeMemory
    exit_codes: list[int]


def _launch(
    layout: str, slots: int, url: str, blocks: Path, tmp: Path, stack: contextlib.ExitStack
) -> tuple[list[WorkerRun], str, int]:
    """The processes of ``layout``, the log line each prints per registered slot, and how many of it."""
    if layout == VENDOR:
        return (
            [stack.enter_context(vendor.VendorRun(url, blocks, tmp, WORKER_NAME="s0"))],
            vendor.SDK_READY_LINE,
            1,
        )
    daemons, per_daemon = {"1 slot": (1, 1), "N slots, one daemon": (1, slots)}.get(layout, (slots, 1))
    runs = [
        stack.enter_context(
            WorkerRun(url, blocks, tmp, LOG_LEVEL="INFO", WORKER_SLOTS=per_daemon, WORKER_NAME=f"s{i}")
        )
        for i in range(daemons)
    ]
    return runs, READY_LINE, per_daemon


def start(layout: str, slots: int, blocks: Path, settle_s: float = 2.0) -> Start:
    """Start ``layout`` on ``blocks`` against a fresh local engine; memory ``settle_s`` after ready."""
    with (
        temporary_dir("bench-slots-start-") as tmp,
        EngineProcess(tmp / "engine.db") as engine,
        contextlib.ExitStack() as stack,
    ):
        runs, ready_line, per_daemon = _launch(layout, slots, engine.url, blocks, tmp, stack)
        ready = [run.started + run.when(ready_line, 120, nth=per_daemon) for run in runs]
        time.sleep(settle_s)  # let the idle daemons settle before reading their memory
        memory = tree_memory(*(run.pid for run in runs))
        codes = [run.stop() for run in runs]
    return Start(max(ready) - min(run.started for run in runs), memory, codes)


def starts(sizes: Sizes) -> dict[str, list[Start]]:
    """Every layout ``sizes.starts`` times, interleaved, after one cold start of each kind (left out).

    The vendor SDK's worker is one of the layouts when it can run here, on its own generated blocks.
    """
    with temporary_dir("bench-slots-blocks-") as tmp:
        blocks = dict.fromkeys(LAYOUTS, generate_blocks(tmp / "generated", sizes.blocks))
        layouts: tuple[str, ...] = LAYOUTS
        if _vendor_cold_start(sizes, vendor.generate_sdk_blocks(tmp / "vendor", sizes.blocks)):
            blocks[VENDOR] = tmp / "vendor"
            layouts = (*LAYOUTS, VENDOR)
        found: dict[str, list[Start]] = {layout: [] for layout in layouts}
        start("1 slot", sizes.slots, blocks["1 slot"])  # compiles the .pyc files
        for _ in range(sizes.starts):
            for layout in layouts:  # interleaved, so that a burst of load on the machine hits all
                found[layout].append(start(layout, sizes.slots, blocks[layout]))
    return found


def _vendor_cold_start(sizes: Sizes, blocks: Path) -> bool:
    """Start the vendor SDK's worker once (it compiles its blocks' .pyc files): whether it can run here."""
    reason = vendor.unavailable()
    if reason is None:
        try:
            start(VENDOR, sizes.slots, blocks)
        except TimeoutError as error:  # the SDK's worker exited or never got ready: its log says why
            reason = f"its first start failed: {error}"
    if reason is not None:
        print(f"{VENDOR} is left out: {reason}", flush=True)
    return reason is None


def vendor_notes(blocks: int) -> list[str]:
    """How the vendor SDK's worker is measured (for the report's notes), or why it was not."""
    low, high = VENDOR_RSS_MIB
    reason = vendor.unavailable()
    if reason is not None:
        return [
            f"**The vendor SDK's worker** was not run: {reason}. {low}-{high} MiB is the issue's RSS of",
            "one SDK worker with 200 blocks, compared with one slot's charged figure.",
        ]
    return [
        "**The vendor SDK's worker** (where its rows have figures): the SDK's own `neops_worker` script",
        f"(`neops_worker_sdk` {vendor.sdk_version()}, from the side-by-side environment `.venv-sdk`, Python",
        f"{vendor.sdk_python()}; our worker runs on Python {platform.python_version()}) with {blocks} blocks",
        "generated for it by `bench/vendor.py`: the same ids, parameters and results, written as the SDK",
        "documents a block (async `run` and `acquire`, the classes named in its Registration). Same",
        "settings, same rounds after a cold start of its own, a fresh local engine each time; one worker,",
        "as it runs one job at a time (in a thread of its one process). Start → registered: to its",
        "'Worker ready and listening for jobs' log line, which it logs once it has registered itself and",
        "its blocks (one request after another), just before its first poll. Memory 2 s later, counted as",
        "for the layouts. It imports all its connection plugins (netmiko, scrapli, asyncssh...) at every",
        f"start, whatever the blocks use. The issue quoted {low}-{high} MiB of RSS for it.",
    ]


def _not_run() -> str:
    return f"not run: {vendor.unavailable() or 'its first start failed (the reason is printed above)'}"


def _median_start(runs: list[Start]) -> Start:
    def median(pick: Callable[[TreeMemory], int]) -> int:
        return int(statistics.median(pick(run.memory) for run in runs))

    memory = TreeMemory(
        median(lambda m: m.pss_kb),
        median(lambda m: m.rss_kb),
        median(lambda m: m.charged_kb),
        max(run.memory.processes for run in runs),
    )
    codes = sorted({code for run in runs for code in run.exit_codes})
    return Start(statistics.median(run.ready_s for run in runs), memory, codes)


def _name(layout: str, slots: int) -> str:
    return layout.replace("N ", f"{slots} ")


def memory_lines(medians: dict[str, Start], sizes: Sizes) -> list[str]:
    """Idle memory of every layout beside one slot's, and the target of each."""
    one = medians["1 slot"].memory
    targets = {"1 slot": "", "N slots, one daemon": "at most 1.50", "N workers": f"about {sizes.slots}"}
    lines = [
        "| layout | idle PSS (trees) | / 1 slot | target | RSS (sum) | charged (estimate) | / 1 slot "
        "| processes | exit codes |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for layout in LAYOUTS:
        run = medians[layout]
        m = run.memory
        lines.append(
            f"| {_name(layout, sizes.slots)} | **{_mib(m.pss_kb):.1f} MiB** "
            f"| **{_ratio(m.pss_kb, one.pss_kb)}** "
            f"| {targets[layout]} | {_mib(m.rss_kb):.1f} MiB | {_mib(m.charged_kb):.1f} MiB "
            f"| {_ratio(m.charged_kb, one.charged_kb)} | {m.processes} | {run.exit_codes} |"
        )
    return [*lines, _vendor_memory_line(medians.get(VENDOR), one)]


def _vendor_label() -> str:
    return f"{VENDOR} ({vendor.sdk_version()})"


def _vendor_memory_line(run: Start | None, one: TreeMemory) -> str:
    """The vendor SDK's worker measured as the layouts are, or why it was not run."""
    low, high = VENDOR_RSS_MIB
    if run is None:
        return (
            f"| {VENDOR} | {_not_run()} | | | {low}-{high} MiB (the issue's) | | "
            f"{low / _mib(one.charged_kb):.2f}-{high / _mib(one.charged_kb):.2f} | | |"
        )
    m = run.memory
    return (
        f"| {_vendor_label()} | **{_mib(m.pss_kb):.1f} MiB** | **{_ratio(m.pss_kb, one.pss_kb)}** "
        f"| (the issue: RSS {low}-{high} MiB) | {_mib(m.rss_kb):.1f} MiB | {_mib(m.charged_kb):.1f} MiB "
        f"| {_ratio(m.charged_kb, one.charged_kb)} | {m.processes} | {run.exit_codes} |"
    )


def startup_lines(medians: dict[str, Start], sizes: Sizes) -> list[str]:
    """Start to every slot registered: N slots in one daemon beside N workers started together."""
    slots, workers = medians["N slots, one daemon"], medians["N workers"]
    return [
        "| layout | start → every slot registered | / N workers | target |",
        "|---|---|---|---|",
        f"| {_name('1 slot', sizes.slots)} | {medians['1 slot'].ready_s:.2f} s | "
        f"{_ratio(medians['1 slot'].ready_s, workers.ready_s)} | |",
        f"| {_name('N slots, one daemon', sizes.slots)} | **{slots.ready_s:.2f} s** "
        f"| **{_ratio(slots.ready_s, workers.ready_s)}** | at most 0.50 |",
        f"| {_name('N workers', sizes.slots)} | {workers.ready_s:.2f} s | 1.00 | |",
        _vendor_startup_line(medians.get(VENDOR), workers),
    ]


def _vendor_startup_line(run: Start | None, workers: Start) -> str:
    if run is None:
        return f"| {VENDOR} | {_not_run()} | | |"
    return f"| {_vendor_label()} | {run.ready_s:.2f} s | {_ratio(run.ready_s, workers.ready_s)} | |"


@dataclass(frozen=True)
class Sizing:
    """Base and per-slot memory of a pod, from the idle trees of 1 and of N slots (MiB)."""

    base_mib: float
    per_slot_mib: float


def sizing(one: TreeMemory, many: TreeMemory, slots: int, pick: Callable[[TreeMemory], int]) -> Sizing:
    """``pick``'s figure as base + slots x per slot, through the 1-slot and N-slot points."""
    per_slot = _mib(pick(many) - pick(one)) / (slots - 1)
    return Sizing(_mib(pick(one)) - per_slot, per_slot)


def sizing_lines(medians: dict[str, Start], sizes: Sizes) -> list[str]:
    """The sizing figure, by each way of counting."""
    one, many = medians["1 slot"].memory, medians["N slots, one daemon"].memory
    ways: list[tuple[str, Callable[[TreeMemory], int]]] = [
        ("charged (estimate)", lambda m: m.charged_kb),
        ("PSS", lambda m: m.pss_kb),
        ("RSS summed", lambda m: m.rss_kb),
    ]
    lines = ["| counted as | base | per slot |", "|---|---|---|"]
    for name, pick in ways:
        fit = sizing(one, many, sizes.slots, pick)
        lines.append(f"| {name} | {fit.base_mib:.1f} MiB | {fit.per_slot_mib:.1f} MiB |")
    return lines


# --- draining jobs of 100 ms ---------------------------------------------------------------------------


def sleep_drains(sizes: Sizes) -> tuple[load.FleetRun, load.FleetRun]:
    """One slot, then N slots in one daemon, drain jobs of ``sleep_seconds`` (blocks: examples and no-op)."""
    dirs = f"{EXAMPLES},{BENCH_BLOCKS}"
    parameters = {"seconds": sizes.sleep_seconds}
    one = load.fleet_drain(
        1, sizes.single_sleep_jobs, SLEEP, parameters, WORKER_SLOTS=1, DIR_FUNCTION_BLOCKS=dirs
    )
    many = load.fleet_drain(
        1, sizes.sleep_jobs, SLEEP, parameters, WORKER_SLOTS=sizes.slots, DIR_FUNCTION_BLOCKS=dirs
    )
    return one, many


def drain_lines(one: load.FleetRun, many: load.FleetRun, sizes: Sizes) -> list[str]:
    """The sleep drains beside N x one slot's rate, with their exactly-once checks."""
    reference = sizes.slots * one.rate
    return [
        f"| drain | jobs | jobs/s | / ({sizes.slots} x 1 slot) | target | exactly once | jobs per slot |",
        "|---|---|---|---|---|---|---|",
        f"| 1 slot | {one.jobs} | {one.rate:.2f} | | | {one.exactly_once} | {_spread(one)} |",
        f"| {sizes.slots} x 1 slot (reference) | | {reference:.1f} | 1.00 | | | |",
        f"| {sizes.slots} slots, one daemon | {many.jobs} | **{many.rate:.1f}** "
        f"| **{_ratio(many.rate, reference)}** | at least 0.90 | **{many.exactly_once}** | {_spread(many)} |",
    ]


def _spread(run: load.FleetRun) -> str:
    counts = run.per_worker
    return f"{len(counts)} slot(s), {min(counts)}-{max(counts)}" if counts else "none"


def _exactly_once_line(run: load.FleetRun) -> str:
    return (
        f"{run.jobs} jobs of {run.workers} daemon: {run.pushed} with a result, {run.claimed_once} claimed "
        f"exactly once, {run.failed_results} failed, {run.duplicate_pushes} duplicate result pushes (409), "
        f"exit codes {sorted(set(run.exit_codes))}."
    )


# --- CPU per no-op job ------------------------------------------------------------------------------------


def cpu_clients(sizes: Sizes) -> list[tuple[str, str, int, dict[str, str]]]:
    """The rows of the CPU table: (label, bench_modes client, worker daemons, settings of each).

    Beside N slots: as many slots as cores (N busy slots on fewer cores share them, so each job
    costs more, slots or not), and N single-slot workers, the alternative to N slots.
    """
    cores = os.cpu_count() or 1
    rows = [
        ("bare sync httpx client", "bare", 1, {}),
        ("worker, 1 slot", "process", 1, {"WORKER_SLOTS": "1"}),
    ]
    if 1 < cores < sizes.slots:
        rows.append((f"worker, {cores} slots (one per core)", "process", 1, {"WORKER_SLOTS": str(cores)}))
    return [
        *rows,
        (f"worker, {sizes.slots} slots", "process", 1, {"WORKER_SLOTS": str(sizes.slots)}),
        (f"{sizes.slots} workers, 1 slot each", "process", sizes.slots, {"WORKER_SLOTS": "1"}),
    ]


def cpu_drains(sizes: Sizes, kind: str) -> dict[str, modes.Drain]:
    """Medians of ``sizes.repeats`` no-op drains of every client on a fresh engine of ``kind``."""
    clients = cpu_clients(sizes)
    runs: dict[str, list[modes.Drain]] = {label: [] for label, _, _, _ in clients}
    for _ in range(sizes.repeats):
        for label, client, daemons, settings in clients:  # interleaved: a burst of load hits every client
            runs[label].append(modes.drain(kind, client, sizes.noop_jobs, daemons, **settings))
    return {label: modes.median_drain(found) for label, found in runs.items()}


def _cpu_target(label: str) -> str:
    if label == "worker, 1 slot":
        return "/ bare at most 1.50"
    if label.startswith("worker, "):
        return "/ 1 slot at most 1.00"
    return "(the alternative to slots)" if label.endswith("1 slot each") else ""


def cpu_lines(sizes: Sizes) -> list[str]:
    """CPU ms per no-op job of the whole tree: slots beside 1 slot, N workers and the bare client."""
    lines = [
        "| engine | client | jobs/s | CPU ms/job | / bare | / 1 slot | target | processes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for kind in ("local", "stand-in"):
        medians = cpu_drains(sizes, kind)
        bare, single = medians["bare sync httpx client"], medians["worker, 1 slot"]
        for label, run in medians.items():
            lines.append(
                f"| {kind} | {label}{modes.exit_note(run.exit_code)} | {run.rate:.0f} "
                f"| {run.cpu_ms_per_job:.2f} | **{_ratio(run.cpu_ms_per_job, bare.cpu_ms_per_job)}** "
                f"| **{_ratio(run.cpu_ms_per_job, single.cpu_ms_per_job)}** | {_cpu_target(label)} "
                f"| {run.processes} |"
            )
    return lines


# --- the report ---------------------------------------------------------------------------------------------


def lines(sizes: Sizes) -> list[str]:
    """Every table, in one run, as Markdown lines (printed as they are measured)."""
    medians = {layout: _median_start(found) for layout, found in starts(sizes).items()}
    one, many = sleep_drains(sizes)
    return [
        *memory_lines(medians, sizes),
        "",
        *startup_lines(medians, sizes),
        "",
        f"Memory for sizing a pod, idle, from 1 and {sizes.slots} slots (base + slots x per slot):",
        "",
        *sizing_lines(medians, sizes),
        "",
        *drain_lines(one, many, sizes),
        "",
        _exactly_once_line(many),
        "",
        *cpu_lines(sizes),
    ]


def main() -> None:
    """Run every table and print it."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--slots", type=int, default=Sizes.slots, help="slots (and separate workers)")
    parser.add_argument("--blocks", type=int, default=Sizes.blocks, help="generated blocks")
    parser.add_argument("--starts", type=int, default=Sizes.starts, help="rounds of starts")
    parser.add_argument("--repeats", type=int, default=Sizes.repeats, help="no-op drains per CPU row")
    args = parser.parse_args()
    sizes = Sizes(slots=args.slots, blocks=args.blocks, starts=args.starts, repeats=args.repeats)
    print("\n".join(lines(sizes)), flush=True)


if __name__ == "__main__":
    main()
