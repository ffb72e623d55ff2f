"""Real parts for integration tests: the recording/fault-injecting ASGI layer, worker subprocesses, waiting.

The local engine runs in-process on 127.0.0.1 (``LocalEngine``) or as a child process; the worker
is always the real ``neops_worker`` console script in a subprocess, stopped with real signals.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from neops_worker.devkit.local_engine.models import NewJob
from neops_worker.devkit.local_engine.process import BASIC_VARIABLES, start_worker, worker_command
from tests.faults.faultkit import Answer, ASGIApp, Call, Exchange, FaultLayer, Plan

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "function_blocks"
#: What a worker on the bundled examples logs once every block is registered.
EXAMPLES_REGISTERED = "Registered 5 function block(s)"
WORKER_COMMAND = worker_command()

#: A fault decides per request: None lets it through, (status, json body) answers instead.
Fault = Callable[[str, str], tuple[int, Any] | None]


class Recorder(FaultLayer):
    """The fault layer as the integration tests speak to it: ``requests`` and a (method, path) ``fault``."""

    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app)
        self._fault: Fault | None = None

    @property
    def requests(self) -> list[Exchange]:
        """Every request the engine received, in arrival order."""
        return self.recorded()

    @property
    def fault(self) -> Fault | None:
        """The fault in force; None lets every request through."""
        return self._fault

    @fault.setter
    def fault(self, fault: Fault | None) -> None:
        self._fault = fault
        self.plan = None if fault is None else _answering(fault)


def _answering(fault: Fault) -> Plan:
    """The plan for ``fault``: its (status, json body) answered instead of the engine."""

    def plan(call: Call) -> Answer | None:
        answer = fault(call.method, call.path)
        return None if answer is None else Answer(*answer)

    return plan


#: What every worker started by a test gets, unless the test says otherwise: fast, and quick to stop.
FAST_SETTINGS = {
    "LOG_LEVEL": "INFO",
    "HEARTBEAT_INTERVAL": "1",
    "POLL_INTERVAL": "0.5",
    "POLL_MIN_INTERVAL": "0.05",
    "STARTUP_RETRY_TIMEOUT": "20",
    "RESULT_PUSH_TIMEOUT": "30",
    "PYTHONUNBUFFERED": "1",
}


class WorkerProcess:
    """The real worker console script as a child process, with its output collected."""

    def __init__(self, url: str, cwd: Path, *, own_group: bool = False, **settings: Any) -> None:
        defaults = {"URL_BLACKBOARD": url, "DIR_FUNCTION_BLOCKS": str(EXAMPLES), **FAST_SETTINGS}
        self.output: list[str] = []
        self.process = start_worker({**defaults, **settings}, cwd, keep=_inherited, own_group=own_group)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        with self.process.stdout:  # closed at EOF: the worker and its job processes are gone
            for line in self.process.stdout:
                self.output.append(line.rstrip("\n"))

    @property
    def log(self) -> str:
        """Everything the worker printed so far."""
        return "\n".join(self.output)

    def wait_for_log(self, text: str, timeout: float = 20, since: int = 0) -> None:
        """Wait until the worker printed ``text`` (after its first ``since`` lines)."""
        wait_until(lambda: text in "\n".join(self.output[since:]), timeout, f"worker log line {text!r}", self)

    def signal(self, signum: signal.Signals = signal.SIGTERM) -> None:
        """Send a real signal to the worker process."""
        self.process.send_signal(signum)

    def wait(self, timeout: float = 30) -> int:
        """Wait for the exit code (the reader thread drains the output first)."""
        code = self.process.wait(timeout)
        self._reader.join(5)
        return code

    def stop(self) -> None:
        """Make sure the process is gone (test clean-up)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._reader.join(5)


def _inherited(name: str) -> bool:
    """What the tests' worker inherits: lower-case variables and the basic ones, no machine configuration."""
    return not name.isupper() or name in BASIC_VARIABLES


def wait_until(
    predicate: Callable[[], bool], timeout: float, what: str, worker: WorkerProcess | None = None
) -> None:
    """Poll ``predicate`` until true; fail naming ``what`` (and the worker's log) on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    tail = "\n".join(worker.output[-40:]) if worker else ""
    raise AssertionError(f"timed out after {timeout} s waiting for {what}\n--- worker log ---\n{tail}")


def add_job(url: str, fb_id: str, job_type: str = "execute", **parameters: Any) -> str:
    """Queue a job through the engine's development endpoint; returns its id."""
    body = NewJob(function_block_id=fb_id, parameters=parameters, type=job_type).to_wire()
    response = httpx.post(f"{url}/_dev/jobs", json=body, timeout=10)
    response.raise_for_status()
    return str(response.json()["jobId"])


def job(url: str, job_id: str) -> dict[str, Any]:
    """A job with its stored result, from the development endpoint."""
    response = httpx.get(f"{url}/_dev/jobs/{job_id}", timeout=10)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def workers(url: str) -> list[dict[str, Any]]:
    """Every worker the engine knows, with state."""
    response = httpx.get(f"{url}/_dev/workers", timeout=10)
    response.raise_for_status()
    result: list[dict[str, Any]] = response.json()
    return result


# --- many jobs at once (scenario tests) ------------------------------------------------------

#: The benchmark's no-op block (``bench.neops/noop:1.0.0``): what a job costs without the job.
BENCH_BLOCKS = ROOT / "bench" / "blocks"


def add_jobs(url: str, fb_id: str, count: int, **parameters: Any) -> list[str]:
    """Queue ``count`` identical jobs over one connection; their ids in queue order."""
    body = NewJob(function_block_id=fb_id, parameters=parameters).to_wire()
    with httpx.Client(base_url=url, timeout=10) as client:
        return [
            str(client.post("/_dev/jobs", json=body).raise_for_status().json()["jobId"]) for _ in range(count)
        ]


def jobs(url: str, status: str | None = None) -> list[dict[str, Any]]:
    """Every job row (optionally only those in ``status``) from the development endpoint."""
    params = {"status": status} if status else None
    response = httpx.get(f"{url}/_dev/jobs", params=params, timeout=30)
    response.raise_for_status()
    rows: list[dict[str, Any]] = response.json()
    return rows


def unfinished(url: str) -> int:
    """How many jobs have no result yet (pending or claimed); cheap once few are left."""
    return len(jobs(url, "pending")) + len(jobs(url, "polled"))
