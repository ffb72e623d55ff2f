"""Whole-system scenarios: real worker processes against the local engine on loopback, real kills.

Two scenarios of the same family live in ``test_worker_process.py`` and are not repeated here: a
worker whose ping gets 404 registers again and keeps working
(``test_ping_404_reregisters_and_keeps_working``), and SIGTERM lets the job in hand finish, pushes its
result and exits 0 (``test_runs_jobs_reports_results_and_drains_on_sigterm``).
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from neops_worker.devkit.local_engine import EngineOptions, EngineProcess, LocalEngine
from tests.integration.conftest import EngineUnderTest
from tests.integration.support import (
    BENCH_BLOCKS,
    Recorder,
    WorkerProcess,
    add_job,
    add_jobs,
    job,
    jobs,
    unfinished,
    wait_until,
    workers,
)

NOOP = "bench.neops/noop:1.0.0"
SLEEP = "fb.examples.neops/sleep:1.0.0"


def _results_pushed(recorder: Recorder) -> Counter[str]:
    """How many result pushes the engine received, per job id."""
    return Counter(r.json()["jobExecutionId"] for r in recorder.matching("POST", "/blackboard/job/result"))


def _wait_drained(url: str, timeout: float, worker: WorkerProcess) -> None:
    """Wait until no job lacks a result; looks twice a second, as a listing of thousands is not free."""
    deadline = time.monotonic() + timeout
    while (left := unfinished(url)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not left, f"{left} job(s) without a result after {timeout} s\n{worker.log[-4000:]}"


def _stop_all(team: list[WorkerProcess]) -> list[int]:
    """SIGTERM every worker at once, then collect the exit codes."""
    for worker in team:
        worker.signal(signal.SIGTERM)
    return [worker.wait(30) for worker in team]


# --- 2,000 jobs, 4 workers ------------------------------------------------------------------------


def test_four_workers_drain_2000_jobs_each_run_exactly_once(
    engine: EngineUnderTest, start_worker: Any
) -> None:
    """4 workers drain 2,000 queued jobs: every job claimed once, run once, with one success result."""
    url = engine.url
    ids = add_jobs(url, NOOP, 2000)
    started = time.monotonic()
    team = [
        start_worker(url, DIR_FUNCTION_BLOCKS=BENCH_BLOCKS, LOG_LEVEL="WARNING", WORKER_NAME=f"drain-{n}")
        for n in range(4)
    ]
    _wait_drained(url, 120, team[0])
    elapsed = time.monotonic() - started
    rows = jobs(url)
    assert [row["jobId"] for row in rows] == ids
    assert {(row["status"], row["resultStatus"], row["claims"]) for row in rows} == {("pushed", "success", 1)}
    assert _results_pushed(engine.recorder) == dict.fromkeys(ids, 1)
    per_worker = Counter(row["workerName"] for row in rows)
    assert set(per_worker) == {f"drain-{n}" for n in range(4)}
    print(f"\n2,000 jobs, 4 workers: drained in {elapsed:.1f} s from worker start; per worker {per_worker}")
    assert _stop_all(team) == [0, 0, 0, 0]


# --- the engine dies --------------------------------------------------------------------------------

ENGINE_KILL_JOB_S = 1.5
#: The kill comes while every worker has at least this long left of its job, so no poll is in flight.
KILL_MARGIN_S = 0.3


def _claim_age_s(row: dict[str, Any]) -> float:
    return time.time() - datetime.fromisoformat(row["claimedAt"]).timestamp()


def _all_busy_mid_job(url: str, team: list[WorkerProcess], in_hand: list[str]) -> bool:
    """Some results are in and every worker is inside a job it has started, not near its end.

    A claim the engine committed but whose answer it never sent would be lost for good (the contract
    has no way to hand it back), so the kill must not land during a poll; hence started jobs only.
    Fills ``in_hand`` with the running jobs' ids when true.
    """
    if len(jobs(url, "pushed")) < len(team):
        return False
    running = jobs(url, "polled")
    if len(running) != len(team):
        return False
    started = all(any(f"Job {row['jobId']} started" in w.log for w in team) for row in running)
    if not started or any(_claim_age_s(row) > ENGINE_KILL_JOB_S - KILL_MARGIN_S for row in running):
        return False
    in_hand.extend(row["jobId"] for row in running)
    return True


def _logged(team: list[WorkerProcess], texts: list[str]) -> bool:
    return all(any(text in worker.log for worker in team) for text in texts)


def test_engine_killed_and_restarted_mid_run_loses_nothing(tmp_path: Path, start_worker: Any) -> None:
    """The engine is SIGKILLed mid-run and restarted on its file: results of the jobs in hand are pushed
    after the restart, the rest run, every job ends with exactly one success result, having run once."""
    with EngineProcess(tmp_path / "engine.sqlite3", log_path=tmp_path / "engine.log") as engine:
        url = engine.url
        ids = add_jobs(url, SLEEP, 6, seconds=ENGINE_KILL_JOB_S)
        team = [start_worker(url, WORKER_NAME=f"survivor-{n}") for n in range(2)]
        in_hand: list[str] = []
        wait_until(lambda: _all_busy_mid_job(url, team, in_hand), 30, "both workers inside a job", team[0])
        engine.kill()
        failed_pushes = [f"Result push of job {job_id} failed" for job_id in in_hand]
        wait_until(lambda: _logged(team, failed_pushes), 10, "pushes failing while the engine is down")
        engine.restart()
        _wait_drained(url, 40, team[0])
        rows = jobs(url)
        codes = _stop_all(team)
    logs = "\n".join(worker.log for worker in team)
    assert {(row["status"], row["resultStatus"], row["claims"]) for row in rows} == {("pushed", "success", 1)}
    assert Counter(row["jobId"] for row in rows) == dict.fromkeys(ids, 1)
    assert all(logs.count(f"Job {job_id} started") == 1 for job_id in ids), logs
    assert "result is lost" not in logs
    assert codes == [0, 0]


# --- a worker dies ----------------------------------------------------------------------------------


@contextmanager
def _recording_engine(options: EngineOptions) -> Iterator[tuple[str, Recorder]]:
    """An in-memory local engine with these options, recording every request."""
    holder: list[Recorder] = []

    def wrap(app: Any) -> Any:
        holder.append(Recorder(app))
        return holder[0]

    with LocalEngine(":memory:", options=options, wrap_app=wrap) as running:
        yield running.url, holder[0]


def test_killed_worker_job_is_requeued_and_finished_by_another(start_worker: Any) -> None:
    """A worker SIGKILLed mid-job expires; the engine re-queues its job, another worker completes it."""
    quick_expiry = EngineOptions(heartbeat_interval_s=0.5, unreachable_after=2, offline_after=4)
    with _recording_engine(quick_expiry) as (url, recorder):
        team = {name: start_worker(url, WORKER_NAME=name, HEARTBEAT_INTERVAL=0.5) for name in ("a", "b")}
        for worker in team.values():
            worker.wait_for_log("Worker state: registered -> idle")
        slow = add_job(url, SLEEP, seconds=2)
        wait_until(lambda: job(url, slow)["status"] == "polled", 10, "the slow job claimed")
        victim_name = job(url, slow)["workerName"]
        victim, rescuer = team.pop(victim_name), team.popitem()[1]
        victim.wait_for_log(f"Job {slow} started")
        victim.signal(signal.SIGKILL)
        victim.wait(10)
        wait_until(lambda: job(url, slow)["status"] == "pushed", 20, "the re-queued job's result", rescuer)
        done = job(url, slow)
        states = {worker["name"]: (worker["state"], worker["expired"]) for worker in workers(url)}
        pushes = _results_pushed(recorder)
    rescuer_name = "b" if victim_name == "a" else "a"
    assert (done["claims"], done["workerName"], done["resultStatus"]) == (2, rescuer_name, "success")
    assert pushes == {slow: 1}
    assert states == {victim_name: ("offline", True), rescuer_name: ("online", False)}
    assert rescuer.log.count(f"Job {slow} started") == 1
