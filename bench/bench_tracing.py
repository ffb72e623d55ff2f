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

from bench.bench_modes import Drain, drain, median_drain
from bench.otlp_receiver import Receiver, otlp_receiver

MODES = ("process", "thread")


def measure(mode: str, count: int, repeats: int, sink: Receiver) -> tuple[Drain, Drain, int]:
    """Median drains with tracing off and on (alternated, so load drifts hit both), and spans received."""
    otel = {"OTEL_EXPORTER_OTLP_ENDPOINT": sink.url, "OTEL_SERVICE_NAME": "bench-worker"}
    off: list[Drain] = []
    on: list[Drain] = []
    before = len(sink.spans)
    for _ in range(repeats):
        off.append(drain("local", mode, count))
        on.append(drain("local", mode, count, 1, **otel))
    return median_drain(off), median_drain(on), (len(sink.spans) - before) // repeats


def table(count: int, repeats: int) -> list[str]:
    """The table, one row per mode."""
    rows = [
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
    title = f"## Tracing: CPU per no-op job, off and on ({args.jobs} jobs, median of {args.repeats})"
    print("\n".join([title, "", *table(args.jobs, args.repeats)]), flush=True)


if __name__ == "__main__":
    main()
