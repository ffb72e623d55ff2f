"""WORKER_SLOTS and burst mode, for real: the daemon with N slots against the local engine over HTTP.

Each slot is a worker of its own in the engine's eyes and runs one job at a time in a job process
forked from the daemon's one template; a crash in one slot touches that slot alone; SIGTERM drains
every slot; an engine that forgets one slot gets that slot registered again, alone. ``--max-jobs``
and ``--exit-when-idle`` end the daemon with exit 0 and nothing lost.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import Any

from tests.integration.conftest import EngineUnderTest
from tests.integration.support import (
    WORKER_COMMAND,
    WorkerProcess,
    add_job,
    add_jobs,
    job,
    wait_until,
    workers,
)

BLOCKS = Path(__file__).resolve().parents[1] / "isolation" / "blocks"
MISBEHAVE = "fb.tests.isolation/misbehave:1.0.0"
REGISTER = "/workers/register"


def _start(start_worker: Any, url: str, slots: int, **settings: Any) -> WorkerProcess:
    worker: WorkerProcess = start_worker(
        url, DIR_FUNCTION_BLOCKS=str(BLOCKS), WORKER_SLOTS=str(slots), WORKER_NAME="edge", **settings
    )
    wait_until(
        lambda: worker.log.count("Worker state: registered -> idle") == slots, 30, "every slot", worker
    )
    return worker


def _status(url: str, job_id: str) -> str:
    return str(job(url, job_id)["status"])


def test_four_slots_run_four_jobs_at_once_a_crash_stays_in_its_slot_and_sigterm_drains_all(
    engine: EngineUnderTest, start_worker: Any
) -> None:
    """4 slots = 4 workers; 3 slow jobs and a segfault at once; SIGTERM mid-jobs: 3 results, 4 off, exit 0."""
    url = engine.url
    worker = _start(start_worker, url, 4)
    online = workers(url)
    assert sorted(w["name"] for w in online) == ["edge-1", "edge-2", "edge-3", "edge-4"]
    assert len(engine.recorder.matching("POST", REGISTER)) == 4
    slow = [add_job(url, MISBEHAVE, mode="sleep", seconds=3) for _ in range(3)]
    wait_until(lambda: all(_status(url, j) == "polled" for j in slow), 10, "three slots busy", worker)
    crash = add_job(url, MISBEHAVE, mode="segfault")
    wait_until(lambda: _status(url, crash) == "pushed", 10, "the crash's failed result", worker)
    assert [_status(url, j) for j in slow] == ["polled"] * 3  # the crash touched its slot alone
    crashed = job(url, crash)["result"]["result"]
    assert crashed["success"] is False
    assert "killed by SIGSEGV" in crashed["message"]
    worker.signal(signal.SIGTERM)
    assert worker.wait(30) == 0, worker.log
    rows = [job(url, j) for j in slow]
    assert [r["status"] for r in rows] == ["pushed"] * 3
    assert all(r["result"]["result"]["success"] for r in rows)
    assert len({r["workerId"] for r in [*rows, job(url, crash)]}) == 4  # one job per slot, at once
    assert sorted(engine.recorder.accepted_results().values()) == [1, 1, 1, 1]  # each exactly once
    assert _unregisters(engine) == 4
    assert "Received SIGTERM. Shutting down 4 slots..." in worker.log
    [finished] = [line for line in worker.output if f"Job {crash} finished: crashed" in line]
    assert f"worker_id={job(url, crash)['workerId']}" in finished
    assert "slot=" in finished


def _unregisters(engine: EngineUnderTest) -> int:
    """Unregistrations sent as ``POST /workers/{id}/unregister``."""
    return len([e for e in engine.recorder.matching("POST", "/workers/") if e.path.endswith("/unregister")])


def test_a_ping_404_for_one_slot_registers_that_slot_again_alone(
    engine: EngineUnderTest, start_worker: Any
) -> None:
    """The engine forgets slot 2: it registers again (a new id, its blocks again); the others keep theirs."""
    url = engine.url
    worker = _start(start_worker, url, 3, HEARTBEAT_INTERVAL="0.3")
    by_name = {w["name"]: w["uuid"] for w in workers(url)}
    forgotten = by_name["edge-2"]

    def forget(method: str, path: str) -> tuple[int, Any] | None:
        if path == f"/workers/{forgotten}/ping":
            return 404, {"statusCode": 404, "message": "Worker not found"}
        return None

    engine.recorder.fault = forget
    wait_until(
        lambda: len(engine.recorder.matching("POST", REGISTER)) == 4, 20, "one re-registration", worker
    )
    engine.recorder.fault = None
    lines = [line for line in worker.output if "Worker expired! Backend rejected ping with 404." in line]
    assert lines
    assert all("slot=2" in line for line in lines)
    wait_until(lambda: sum(w["state"] == "online" for w in workers(url)) == 3, 20, "three online", worker)
    online = {w["name"]: w["uuid"] for w in workers(url) if w["state"] == "online"}
    assert online["edge-1"] == by_name["edge-1"]
    assert online["edge-3"] == by_name["edge-3"]
    assert online["edge-2"] != forgotten
    done = add_jobs(url, MISBEHAVE, 6)
    wait_until(lambda: all(_status(url, j) == "pushed" for j in done), 20, "six jobs after it", worker)
    worker.signal(signal.SIGTERM)
    assert worker.wait(20) == 0


def test_max_jobs_stops_after_n_jobs_in_all_slots_and_exits_0(
    engine: EngineUnderTest, start_worker: Any
) -> None:
    """--max-jobs 5 over 3 slots: exactly 5 of 8 queued jobs run, once each; the rest stay pending; exit 0."""
    url = engine.url
    queued = add_jobs(url, MISBEHAVE, 8)
    worker = _start(start_worker, url, 3, MAX_JOBS="5")
    assert worker.wait(30) == 0, worker.log
    statuses = [_status(url, j) for j in queued]
    assert statuses.count("pushed") == 5
    assert statuses.count("pending") == 3
    assert sorted(engine.recorder.accepted_results().values()) == [1] * 5
    assert "Ran 5 job(s), MAX_JOBS (5); draining and stopping" in worker.log
    assert _unregisters(engine) == 3


def test_exit_when_idle_unregisters_and_exits_0_once_no_slot_had_a_job(
    engine: EngineUnderTest, tmp_path: Path
) -> None:
    """EXIT_WHEN_IDLE=1: the jobs there run, then 1 s without a job in any slot: unregister, exit 0."""
    url = engine.url
    queued = add_jobs(url, MISBEHAVE, 4)
    settings: dict[str, Any] = {
        "DIR_FUNCTION_BLOCKS": str(BLOCKS),
        "WORKER_SLOTS": "2",
        "EXIT_WHEN_IDLE": "1",
    }
    worker = WorkerProcess(url, tmp_path, **settings)
    try:
        assert worker.wait(30) == 0, worker.log
    finally:
        worker.stop()
    assert [_status(url, j) for j in queued] == ["pushed"] * 4
    assert "No job in any slot for 1 s (EXIT_WHEN_IDLE); draining and stopping" in worker.log
    assert _unregisters(engine) == 2


def test_slots_refuse_thread_isolation_with_one_line_and_exit_2(tmp_path: Path) -> None:
    """WORKER_SLOTS=2 with JOB_ISOLATION=thread: one line naming both settings, exit 2."""
    run = subprocess.run(
        [*WORKER_COMMAND, "run", "--slots", "2", "--job-isolation", "thread"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = (run.stdout + run.stderr).strip().splitlines()
    assert run.returncode == 2, lines
    assert len(lines) == 1, lines
    assert "WORKER_SLOTS: 2 slots need JOB_ISOLATION=process" in lines[0]
