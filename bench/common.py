"""What the worker benchmarks share: the real worker process, the local engine, queuing and timing.

Every figure comes from the real ``neops_worker`` console script against the local engine on loopback.
Times of claims and results are read from the engine's own timestamps (``claimedAt``, ``finishedAt``,
milliseconds), so that watching the engine does not slow it down while it is being measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from neops_worker.devkit.local_engine import process as child

ROOT = Path(__file__).resolve().parents[1]
BENCH_BLOCKS = ROOT / "bench" / "blocks"
EXAMPLES = ROOT / "function_blocks"
#: A benchmarked worker inherits only these variables (and none of the user's worker settings).
INHERITED = child.BASIC_VARIABLES | {"VIRTUAL_ENV"}
NOOP = "bench.neops/noop:1.0.0"
SLEEP = "fb.examples.neops/sleep:1.0.0"


def worker_settings(url: str, blocks: Path, **extra: Any) -> dict[str, Any]:
    """The settings of a benchmarked worker process; ``extra`` adds or overrides some."""
    return {
        "URL_BLACKBOARD": url,
        "DIR_FUNCTION_BLOCKS": str(blocks),
        "LOG_LEVEL": "WARNING",
        "POLL_INTERVAL": "1",
        "HEARTBEAT_INTERVAL": "5",
        **extra,
    }


def worker_env(url: str, blocks: Path, **extra: Any) -> dict[str, str]:
    """The environment of a benchmarked worker process."""
    return child.worker_env(worker_settings(url, blocks, **extra), keep=INHERITED.__contains__)


class WorkerRun:
    """A worker process whose log lines (stderr) are kept with the ``perf_counter`` time they arrived."""

    def __init__(self, url: str, blocks: Path, cwd: str | Path, **extra: Any) -> None:
        self.started = time.perf_counter()
        self.process = child.start_worker(
            worker_settings(url, blocks, **extra),
            cwd,
            keep=INHERITED.__contains__,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.lines: list[tuple[float, str]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append((time.perf_counter(), line.rstrip("\n")))

    @property
    def pid(self) -> int:
        """The worker's process id."""
        return self.process.pid

    def when(self, text: str, timeout: float = 60, nth: int = 1) -> float:
        """Seconds after the start at which the ``nth`` log line holding ``text`` arrived (waits for it)."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            found = [at for at, line in list(self.lines) if text in line]
            if len(found) >= nth:
                return found[nth - 1] - self.started
            if self.process.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.005)
        raise TimeoutError(f"the worker never logged {text!r}:\n" + "\n".join(self.log_tail()))

    def log_tail(self, lines: int = 20) -> list[str]:
        """The last log lines."""
        return [line for _, line in self.lines[-lines:]]

    def count(self, text: str) -> int:
        """How many log lines contain ``text``."""
        return sum(text in line for _, line in self.lines)

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM and wait; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout)
        self._reader.join(5)
        return code

    def __enter__(self) -> WorkerRun:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


# --- the engine's side ------------------------------------------------------------------------


def add_jobs(url: str, fb_id: str, count: int, **parameters: Any) -> list[str]:
    """Queue ``count`` jobs through the development endpoint over one connection; their ids."""
    with httpx.Client(base_url=url, timeout=30) as client:
        return [
            client.post("/_dev/jobs", json={"functionBlockId": fb_id, "parameters": parameters}).json()[
                "jobId"
            ]
            for _ in range(count)
        ]


def queue_many(url: str, fb_id: str, count: int, connections: int = 4, **parameters: Any) -> list[str]:
    """Queue a large number of jobs quickly, over several connections; their ids in queue order."""

    async def share(client: httpx.AsyncClient, n: int) -> list[tuple[float, str]]:
        body = {"functionBlockId": fb_id, "parameters": parameters}
        ids = []
        for _ in range(n):
            answer = await client.post("/_dev/jobs", json=body)
            ids.append((time.perf_counter(), str(answer.json()["jobId"])))
        return ids

    async def queue() -> list[str]:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            shares = [count // connections + (i < count % connections) for i in range(connections)]
            parts = await asyncio.gather(*(share(client, n) for n in shares))
        return [job_id for _, job_id in sorted(pair for part in parts for pair in part)]

    return asyncio.run(queue())


def job(url: str, job_id: str) -> dict[str, Any]:
    """One job row with its result, from the development endpoint."""
    answer: dict[str, Any] = httpx.get(f"{url}/_dev/jobs/{job_id}", timeout=30).json()
    return answer


def jobs(url: str, **query: str) -> list[dict[str, Any]]:
    """Job rows (optionally filtered by ``status``, ``workerId``...)."""
    answer: list[dict[str, Any]] = httpx.get(f"{url}/_dev/jobs", params=query, timeout=120).json()
    return answer


def pending(url: str) -> int:
    """Jobs without a result yet."""
    return sum(1 for row in jobs(url) if row["status"] != "pushed")


def online(url: str) -> bool:
    """Whether some worker is online."""
    return any(w["state"] == "online" for w in httpx.get(f"{url}/_dev/workers", timeout=30).json())


def epoch(stamp: str) -> float:
    """An engine timestamp (ISO 8601, ``Z``) as epoch seconds."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def wait_for(predicate: Callable[[], bool], timeout: float, poll: float = 0.02) -> float:
    """Seconds until ``predicate`` held (raises on timeout)."""
    started = time.perf_counter()
    while not predicate():
        if time.perf_counter() - started > timeout:
            raise TimeoutError("benchmark condition not reached")
        time.sleep(poll)
    return time.perf_counter() - started


def wait_pushed(url: str, job_id: str, timeout: float, poll: float = 0.1) -> dict[str, Any]:
    """Wait until one job has its result (a cheap single-row look); the row."""
    row: dict[str, Any] = {}

    def done() -> bool:
        row.update(job(url, job_id))
        return bool(row["status"] == "pushed")

    wait_for(done, timeout, poll)
    return row


def drain_span(rows: list[dict[str, Any]]) -> float:
    """Seconds from the first claim to the last result, by the engine's clock."""
    first = min(epoch(row["claimedAt"]) for row in rows)
    last = max(epoch(row["finishedAt"]) for row in rows)
    return last - first


# --- the worker process -------------------------------------------------------------------------


def rss_kb(pid: int) -> int:
    """Resident set size of a process, from ``/proc/<pid>/status`` (kB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


class RssSampler:
    """Samples a process's RSS in a thread every ``interval`` seconds: (perf_counter, kB) pairs."""

    def __init__(self, pid: int, interval: float = 0.5) -> None:
        self.pid = pid
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError, RuntimeError):
                self.samples.append((time.perf_counter(), rss_kb(self.pid)))
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


@contextlib.contextmanager
def temporary_dir(prefix: str) -> Iterator[Path]:
    """A temporary directory as a Path."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield Path(tmp)


def machine() -> dict[str, str]:
    """Cores, Python, platform and the load average now."""
    load = os.getloadavg()
    return {
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "load": f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}",
    }
