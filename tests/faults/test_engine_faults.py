"""The real worker against an engine that fails: 5xx, outages, restarts, resets, slow and lost answers.

"Exactly once" is checked three ways for every job: the engine claimed it once (``claims``), holds one
result (and accepted one push, where the fault layer records it), and the workers' logs started it once.
"""

from __future__ import annotations

import random
import re
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from neops_worker.devkit.local_engine import EngineProcess, LocalEngine
from tests.faults.conftest import FAST, FaultyEngine
from tests.faults.faultkit import Action, Answer, Call, Delay, FaultProxy, ProxyAction, Rewrite, free_port
from tests.faults.helpers import SLEEP, add_jobs, assert_exactly_once, job_rows, starts, wait_all_pushed
from tests.integration.support import WorkerProcess, job, wait_until, workers

#: A registration retry's log line, with the seconds left of STARTUP_RETRY_TIMEOUT.
REGISTRATION_RETRY = re.compile(r"Worker registration failed \(.*; retrying in .* giving up in (\d+) s")


def _status(url: str, job_id: str) -> str:
    return str(job(url, job_id)["status"])


def _retry_seconds_left(worker: WorkerProcess) -> float:
    """The least time the worker said its registration retries had left (inf before the first retry)."""
    left = [float(match.group(1)) for match in REGISTRATION_RETRY.finditer(worker.log)]
    return min(left, default=float("inf"))


def test_one_in_five_answers_5xx_for_a_whole_run(faulty: FaultyEngine, start_worker: Any) -> None:
    """20% of all answers are 503: 500 jobs on 12 workers, each claimed once, one result, run once."""
    # The 503s are given instead of the engine's answer, so it never saw those requests; a 5xx after
    # a claim is a lost poll answer (test_lost_poll_answer_leaves_the_job_claimed).
    chance = random.Random(20)
    lock = threading.Lock()

    def one_in_five(call: Call) -> Action | None:
        with lock:
            hit = chance.random() < 0.2
        return Answer(503, {"statusCode": 503, "message": "Service Unavailable"}) if hit else None

    job_ids = add_jobs(faulty.url, 500)
    faulty.layer.plan = one_in_five
    running = [start_worker(faulty.url, WORKER_NAME=f"w{i}") for i in range(12)]
    wait_all_pushed(faulty.url, 500, 80, *running)
    for worker in running:
        worker.signal(signal.SIGTERM)
    assert [worker.wait(30) for worker in running] == [0] * 12
    assert_exactly_once(faulty.url, job_ids, *running)
    assert set(faulty.layer.accepted_results().values()) == {1}
    faulted = Counter(e.kind for e in faulty.layer.exchanges if e.fault == "Answer")
    assert min(faulted["poll"], faulted["result"]) > 20, faulted
    assert faulted["ping"] > 0, faulted


def test_result_push_outlives_an_unreachable_engine(
    faulty: FaultyEngine, proxy: Callable[[str], FaultProxy], start_worker: Any
) -> None:
    """The engine unreachable mid-job until a push retry and a ping failed: the result arrives once."""
    # Connections are refused and reset while the engine keeps running; the engine SIGKILLed and
    # restarted with jobs in hand is test_scenarios' case.
    front = proxy(faulty.url)
    (job_id,) = add_jobs(faulty.url, 1, SLEEP, seconds=1)
    worker = start_worker(front.url)
    wait_until(lambda: _status(faulty.url, job_id) == "polled", 20, "the job claimed", worker)
    front.down()  # while the job runs no poll is in flight: only the result and pings can fail
    push_failed = f"Result push of job {job_id} failed"
    wait_until(
        lambda: worker.log.count(push_failed) >= 2 and "Heartbeat failed" in worker.log,
        20,
        "a failed push retry and a failed ping",
        worker,
    )
    front.up()
    wait_all_pushed(faulty.url, 1, 40, worker)
    assert_exactly_once(faulty.url, [job_id], worker)
    assert faulty.layer.accepted_results() == {job_id: 1}
    assert "Heartbeat failed" in worker.log
    worker.signal(signal.SIGTERM)
    assert worker.wait(20) == 0


def test_engine_restart_mid_run_loses_nothing(tmp_path: Path, start_worker: Any) -> None:
    """The engine stopped gracefully and restarted while a worker drains 300 jobs: nothing lost."""
    # SIGTERM lets the engine answer requests in flight; SIGKILL mid-run is test_scenarios' case.
    with EngineProcess(tmp_path / "engine.db", options=FAST) as engine:
        job_ids = add_jobs(engine.url, 300)
        worker = start_worker(engine.url)
        wait_until(lambda: _status(engine.url, job_ids[50]) == "pushed", 30, "50 results", worker)
        since = len(worker.output)
        engine.terminate()
        worker.wait_for_log("ConnectError", since=since)  # the engine stays down until the worker met it
        engine.start()
        wait_all_pushed(engine.url, 300, 60, worker)
        assert_exactly_once(engine.url, job_ids, worker)
        assert "ConnectError" in worker.log  # the worker did meet the outage (poll, push or ping)
        worker.signal(signal.SIGTERM)
        assert worker.wait(20) == 0


@pytest.mark.parametrize("how", ["connection reset", "503 after the claim"])
def test_lost_poll_answer_leaves_the_job_claimed(
    faulty: FaultyEngine, proxy: Callable[[str], FaultProxy], start_worker: Any, how: str
) -> None:
    """A poll answer lost after the engine claimed: the job stays claimed by this worker, unrun."""
    # Contract 8.5: a claim cannot be handed back and a poll must not be resent. Only the engine's
    # stuck-job timeout (the local engine has none) or the worker's expiry ends such a claim.
    front = proxy(faulty.url)
    lost_answers: list[int] = []
    if how == "connection reset":
        front.plan = lambda call: (
            "drop-claim" if call.kind == "poll" and not front.actions("drop") else "forward"
        )
    else:

        def replace_claim(status: int, body: bytes) -> tuple[int, bytes]:
            if lost_answers or not body.startswith(b"[{"):
                return status, body
            lost_answers.append(status)
            return 503, b'{"statusCode":503,"message":"Service Unavailable"}'

        faulty.layer.plan = lambda call: Rewrite(answer=replace_claim) if call.kind == "poll" else None
    (lost,) = add_jobs(faulty.url, 1, message="lost")
    worker = start_worker(front.url)
    wait_until(lambda: bool(front.actions("drop") or lost_answers), 20, "a poll answer lost", worker)
    later = add_jobs(faulty.url, 2, message="later")
    wait_all_pushed(faulty.url, 2, 20, worker)
    assert_exactly_once(faulty.url, later, worker)
    (me,) = workers(faulty.url)
    row = job_rows(faulty.url)[lost]
    assert (row["status"], row["claims"], row["workerId"], row["resultStatus"]) == (
        "polled",
        1,
        me["uuid"],
        None,
    )
    assert starts(worker)[lost] == 0
    assert "Poll failed (poll: " in worker.log
    worker.signal(signal.SIGTERM)
    assert worker.wait(20) == 0
    assert job_rows(faulty.url)[lost]["status"] == "polled"  # unregistering does not release it


def test_answers_slower_than_the_request_timeout(faulty: FaultyEngine, start_worker: Any) -> None:
    """Answers slower than API_REQUEST_TIMEOUT: the worker retries or polls again; one result per job."""
    # Registration and polls are held before the engine (which skips them once the worker gave up);
    # a block registration, results and pings after it (the engine has acted: retries get 409).

    def slow(call: Call) -> Action | None:
        if call.kind in ("register", "poll") and call.seq % 3 == 1:
            return Delay(5.0)  # ends when the worker hangs up, at its 0.5 s timeout
        if (call.kind == "block" and call.seq == 1) or (
            call.kind in ("result", "ping") and call.seq % 3 == 1
        ):
            return Delay(1.0, after_engine=True)
        return None

    faulty.layer.plan = slow
    job_ids = add_jobs(faulty.url, 4)
    # POLL_TIMEOUT too: a poll's own timeout (60 s by default) would wait out every held poll.
    worker = start_worker(faulty.url, API_REQUEST_TIMEOUT=0.5, POLL_TIMEOUT=0.5)
    wait_all_pushed(faulty.url, 4, 40, worker)
    assert_exactly_once(faulty.url, job_ids, worker)
    assert set(faulty.layer.accepted_results().values()) == {1}
    assert "ReadTimeout" in worker.log
    assert "already holds a result" in worker.log  # a late answer, then 409 on the retry
    assert "(1 already known to the engine)" in worker.log  # the late block registration
    assert len(workers(faulty.url)) == 1  # the held registration never reached the engine
    worker.signal(signal.SIGTERM)
    assert worker.wait(20) == 0


def test_connections_reset_mid_request(
    faulty: FaultyEngine, proxy: Callable[[str], FaultProxy], start_worker: Any
) -> None:
    """Connections reset mid-request, and result answers lost after storing: one result per job."""
    # Every fourth request is reset before the engine sees it; every fourth result push is reset
    # after the engine stored it, so its retry gets 409.

    def resets(call: Call) -> ProxyAction:
        if call.seq % 4 == 0:
            return "reset"
        return "drop" if call.kind == "result" and call.seq % 4 == 2 else "forward"

    front = proxy(faulty.url)
    front.plan = resets
    job_ids = add_jobs(faulty.url, 10)
    worker = start_worker(front.url)
    wait_all_pushed(faulty.url, 10, 40, worker)
    assert_exactly_once(faulty.url, job_ids, worker)
    assert set(faulty.layer.accepted_results().values()) == {1}
    assert Counter(r.call.kind for r in front.actions("reset"))["poll"] >= 3
    assert len(front.actions("drop")) >= 3
    assert "already holds a result" in worker.log
    worker.signal(signal.SIGTERM)
    assert worker.wait(20) == 0


def test_ping_404_while_a_job_runs(faulty: FaultyEngine, start_worker: Any) -> None:
    """A ping answered 404 mid-job: the job finishes, its result is delivered, the worker re-registers."""
    (running,) = add_jobs(faulty.url, 1, SLEEP, seconds=2)
    expired = threading.Event()

    def forget_once(call: Call) -> Action | None:
        if call.kind != "ping" or expired.is_set():
            return None
        # Decided from the engine's own state: the first ping while the job is claimed.
        row = faulty.engine.store.get_job(running)
        if row is not None and row.status == "polled":
            expired.set()
            return Answer(404, {"statusCode": 404, "message": "Worker not found"})
        return None

    faulty.layer.plan = forget_once
    worker = start_worker(faulty.url)
    worker.wait_for_log(f"Registering again under a new id; job {running} continues")
    wait_all_pushed(faulty.url, 1, 20, worker)
    assert_exactly_once(faulty.url, [running], worker)
    (after,) = add_jobs(faulty.url, 1)
    wait_all_pushed(faulty.url, 2, 20, worker)
    first, second = sorted(workers(faulty.url), key=lambda w: w["createdAt"])
    assert job(faulty.url, running)["workerId"] == first["uuid"]
    assert job(faulty.url, after)["workerId"] == second["uuid"]
    worker.signal(signal.SIGTERM)
    assert worker.wait(20) == 0


def test_engine_appearing_10_s_after_the_worker(start_worker: Any) -> None:
    """No engine at start, one 10 s later: the worker, still retrying, registers and runs a job."""
    port = free_port()
    started = time.monotonic()
    worker = start_worker(f"http://127.0.0.1:{port}", STARTUP_RETRY_TIMEOUT=40)
    wait_until(lambda: _retry_seconds_left(worker) < 40, 10, "a first registration retry", worker)
    # The engine comes 10 s after the worker; start-up retries pause 10 s at most, so the worker's next
    # attempt, within 10 s, meets it with 20 s of its STARTUP_RETRY_TIMEOUT left.
    time.sleep(max(0.0, 10 - (time.monotonic() - started)))
    assert worker.process.poll() is None, worker.log
    assert "Worker registration failed (worker registration: ConnectError" in worker.log
    with LocalEngine(":memory:", port=port, options=FAST) as engine:
        (job_id,) = add_jobs(engine.url, 1)
        wait_all_pushed(engine.url, 1, 40, worker)
        assert_exactly_once(engine.url, [job_id], worker)
        worker.signal(signal.SIGTERM)
        assert worker.wait(20) == 0
