"""What tracing costs: CPU per no-op job of the real worker, with tracing off and on, in both isolation modes.

Each drain is the real ``neops_worker`` console script against a fresh local engine child process with
the same queue of no-op jobs (``bench.neops/noop:1.0.0``). Tracing on: ``OTEL_EXPORTER_OTLP_ENDPOINT``
points at an OTLP/HTTP receiver in this process on 127.0.0.1 (it decodes each request and counts the
spans, so the figure includes the real export); off: no ``OTEL_*`` at all. CPU is that of the worker's
process tree (daemon and job process; the receiver is not in it), read from ``/proc`` between the first
claim and the last result by the engine's clock. Prints figures; asserts nothing.

    uv run python -m bench.bench_tracing --jobs 1000 --repeats 3
"""

from __future__ import annotations

import argparse

from bench.bench_modes import Drain, Worker, engine_of, wait_until
from bench.common import NOOP, temporary_dir
from bench.otlp_receiver import Receiver, otlp_receiver
from bench.proctree import CpuSampler

MODES = ("process", "thread")


def drain(mode: str, count: int, otel: dict[str, str]) -> Drain:
    """A worker in ``mode`` with ``otel`` in its environment drains ``count`` queued no-op jobs."""
    with engine_of("local") as engine, temporary_dir("bench-tracing-") as tmp:
        engine.queue(NOOP, count)
        worker = Worker(engine.url, mode, tmp, **otel)
        with CpuSampler(worker.pid) as cpu:
            finished = wait_until(lambda: engine.finished(count), worker, 60 + count / 20, 0.25)
        code = worker.stop()
        if not finished:
            return Drain(0, 0.0, 0.0, cpu.most_processes, code)
        first, last = engine.span()
        return Drain(count, last - first, cpu.at(last) - cpu.at(first), cpu.most_processes, code)


def median(runs: list[Drain]) -> Drain:
    """The run of median CPU per job."""
    ranked = sorted(runs, key=lambda run: run.cpu_ms_per_job)
    return ranked[len(ranked) // 2]


def measure(mode: str, count: int, repeats: int, sink: Receiver) -> tuple[Drain, Drain, int]:
    """Median drains with tracing off and on (alternated, so load drifts hit both), and spans received."""
    otel = {"OTEL_EXPORTER_OTLP_ENDPOINT": sink.url, "OTEL_SERVICE_NAME": "bench-worker"}
    off: list[Drain] = []
    on: list[Drain] = []
    before = len(sink.spans)
    for _ in range(repeats):
        off.append(drain(mode, count, {}))
        on.append(drain(mode, count, otel))
    return median(off), median(on), (len(sink.spans) - before) // repeats


def lines(count: int, repeats: int) -> list[str]:
    """The table, one row per mode."""
    rows = [
        f"## Tracing: CPU per no-op job, off and on ({count} jobs, median of {repeats})",
        "",
        "| mode | off: jobs/s | off: CPU ms/job | on: jobs/s | on: CPU ms/job | CPU on/off | spans |",
        "|---|---|---|---|---|---|---|",
    ]
    with otlp_receiver() as sink:
        for mode in MODES:
            off, on, spans = measure(mode, count, repeats, sink)
            ratio = on.cpu_ms_per_job / off.cpu_ms_per_job if off.cpu_ms_per_job else float("nan")
            rows.append(
                f"| {mode} | {off.rate:.0f} | {off.cpu_ms_per_job:.2f} | {on.rate:.0f} | "
                f"{on.cpu_ms_per_job:.2f} | **{ratio:.2f}** | {spans} |"
            )
    return rows


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=500, help="no-op jobs per drain")
    parser.add_argument("--repeats", type=int, default=3, help="drains per figure (medians shown)")
    args = parser.parse_args()
    print("\n".join(lines(args.jobs, args.repeats)), flush=True)


if __name__ == "__main__":
    main()
