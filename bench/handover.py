"""What one hand-over between the event loop and another thread costs, on this machine.

The worker's engine client runs each HTTP request on a thread of its own (``engine.threads``), so
every request costs a hand-over there and back on top of the request itself; a job in a job process
costs the same kind of round trip through a socket. This prints the CPU and wall time of one
round trip of a call that does nothing, beside ``loop.run_in_executor`` and a bare loop step:
the part of the worker's per-job CPU that is neither HTTP nor the worker's own code.

    uv run python -m bench.handover --calls 20000
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time
from collections.abc import Awaitable, Callable

from neops_worker.engine.threads import CallThreads


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _timed(calls: int, one: Callable[[], Awaitable[object]]) -> tuple[float, float]:
    """CPU and wall microseconds per call of ``one``."""
    await one()
    cpu, wall = _cpu(), time.perf_counter()
    for _ in range(calls):
        await one()
    return 1e6 * (_cpu() - cpu) / calls, 1e6 * (time.perf_counter() - wall) / calls


async def lines(calls: int) -> list[str]:
    """The table: each way of running a no-op, per call."""
    threads = CallThreads("bench-handover")
    loop = asyncio.get_running_loop()
    ways: list[tuple[str, Callable[[], Awaitable[object]]]] = [
        ("the engine client's thread (`CallThreads.call`)", lambda: threads.call(lambda _: None, None)),
        ("`loop.run_in_executor` (the default executor)", lambda: loop.run_in_executor(None, lambda: None)),
        ("no hand-over: `asyncio.sleep(0)` (one loop step)", lambda: asyncio.sleep(0)),
    ]
    rows = ["| a no-op call, awaited on the loop | CPU µs per call | wall µs per call |", "|---|---|---|"]
    for name, one in ways:
        cpu, wall = await _timed(calls, one)
        rows.append(f"| {name} | {cpu:.1f} | {wall:.1f} |")
    threads.close()
    return rows


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=20000, help="calls per row (default 20000)")
    args = parser.parse_args()
    print("\n".join(asyncio.run(lines(args.calls))))


if __name__ == "__main__":
    main()
