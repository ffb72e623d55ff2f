"""A process and all its descendants, read from ``/proc``: CPU time, proportional memory (PSS), sampling.

The worker may run jobs in child processes, so every figure is of the whole tree: the process, its
children found through ``/proc/<pid>/task/*/children``, theirs, and so on. CPU time also counts the
children that already ended (``cutime``/``cstime`` of their parent), such as a job process that crashed.
"""

from __future__ import annotations

import bisect
import contextlib
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def tree(pid: int) -> list[int]:
    """``pid`` and every live descendant (children before grandchildren)."""
    found, index = [pid], 0
    while index < len(found):
        found.extend(_children(found[index]))
        index += 1
    return found


def _children(pid: int) -> list[int]:
    children: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                children.extend(int(child) for child in (task / "children").read_text().split())
    return children


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process, with that of its children that ended and were reaped."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()  # the name in parentheses may hold spaces
    utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
    return (utime + stime + cutime + cstime) / CLOCK_TICKS


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of the whole tree of ``pid`` (processes gone meanwhile count as nothing)."""
    total = 0.0
    for member in tree(pid):
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += cpu_seconds(member)
    return total


def pss_kb(pid: int) -> int:
    """Proportional set size of one process, from ``/proc/<pid>/smaps_rollup`` (kB)."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    raise RuntimeError(f"no Pss for process {pid}")


def tree_pss_kb(pid: int) -> tuple[int, int]:
    """PSS of the whole tree of ``pid`` (kB) and how many processes it counted."""
    total = counted = 0
    for member in tree(pid):
        with contextlib.suppress(OSError, RuntimeError):
            total += pss_kb(member)
            counted += 1
    return total, counted


@dataclass(frozen=True)
class TreeMemory:
    """Memory of one or more process trees (kB): PSS, RSS, and an estimate of what a cgroup charges.

    ``charged_kb`` counts each page once, as a container's memory cgroup does: anonymous pages by
    their PSS (they are shared only inside the trees, copy-on-write after a fork, so their PSS adds up
    to each page once), file pages as the largest file RSS of one process (the processes map the same
    interpreter and libraries, so the largest is about their union; all of it is charged, as to a pod
    that read the files first), and the page tables of every process.
    """

    pss_kb: int
    rss_kb: int
    charged_kb: int
    processes: int


def _fields(path: Path, names: tuple[str, ...]) -> dict[str, int]:
    found = {}
    for line in path.read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in names:
            found[name] = int(rest.split()[0])
    return found


def tree_memory(*pids: int) -> TreeMemory:
    """Memory of the trees of ``pids`` together (processes that end meanwhile count as nothing)."""
    pss = rss = anon = pte = largest_file = counted = 0
    for member in (member for pid in pids for member in tree(pid)):
        with contextlib.suppress(OSError, KeyError, ValueError):
            rollup = _fields(Path(f"/proc/{member}/smaps_rollup"), ("Pss", "Pss_Anon", "Pss_Shmem"))
            status = _fields(Path(f"/proc/{member}/status"), ("VmRSS", "RssFile", "VmPTE"))
            pss, rss = pss + rollup["Pss"], rss + status["VmRSS"]
            anon += rollup["Pss_Anon"] + rollup["Pss_Shmem"]
            pte += status["VmPTE"]
            largest_file = max(largest_file, status["RssFile"])
            counted += 1
    return TreeMemory(pss, rss, anon + largest_file + pte, counted)


class CpuSampler:
    """Samples the tree CPU time of ``pid`` every ``interval`` s in a thread, stamped with ``time.time()``."""

    def __init__(self, pid: int, interval: float = 0.01) -> None:
        self.pid = pid
        self.interval = interval
        self.stamps: list[float] = []
        self.values: list[float] = []
        self.most_processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.most_processes = max(self.most_processes, len(tree(self.pid)))
            value = tree_cpu_seconds(self.pid)
            self.stamps.append(time.time())
            self.values.append(max(value, self.values[-1] if self.values else 0.0))
            self._stop.wait(self.interval)

    def at(self, when: float) -> float:
        """The tree's CPU seconds at epoch time ``when``, interpolated between the nearest samples."""
        i = bisect.bisect_left(self.stamps, when)
        if i == 0:
            return self.values[0]
        if i == len(self.stamps):
            return self.values[-1]
        t0, t1, v0, v1 = self.stamps[i - 1], self.stamps[i], self.values[i - 1], self.values[i]
        return v0 + (v1 - v0) * (when - t0) / (t1 - t0) if t1 > t0 else v1

    def __enter__(self) -> CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
