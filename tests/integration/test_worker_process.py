"""The real worker process against a real local engine over HTTP, stopped with real signals."""

from __future__ import annotations

import signal
import time
from functools import partial
from itertools import pairwise
from typing import Any

from tests.contract import assert_sent_body
from tests.integration.conftest import EngineUnderTest
from tests.integration.support import EXAMPLES_REGISTERED, WorkerProcess, add_job, job, wait_until, workers

ECHO = "fb.examples.neops/echo:1.0.0"
SLEEP = "fb.examples.neops/sleep:1.0.0"
FAIL = "fb.examples.neops/fail:1.0.0"
SCHEMA_BY_PATH = {
    "/workers/register": "RegisterWorkerDto",
    "/function-blocks/register": "RegisterFunctionBlockDto",
    "/blackboard/job": "JobPollDto",
    "/blackboard/job/result": "JobResultDto",
    "/version/compatibility": "VersionCompatibilityRequestDto",
}


def _finished(url: str, job_id: str) -> bool:
    return bool(job(url, job_id)["status"] == "pushed")


def _wait_results(url: str, job_ids: list[str], worker: WorkerProcess) -> None:
    for job_id in job_ids:
        wait_until(partial(_finished, url, job_id), 20, f"result of {job_id}", worker)


def test_runs_jobs_reports_results_and_drains_on_sigterm(engine: EngineUnderTest, start_worker: Any) -> None:
    """Jobs run to results; SIGTERM lets the job in hand finish, pushes it, unregisters, exits 0."""
    url = engine.url
    quick = [add_job(url, ECHO, message="hi"), add_job(url, FAIL, mode="raise"), add_job(url, ECHO)]
    worker = start_worker(url, WORKER_NAME="itest-worker")
    _wait_results(url, quick, worker)
    slow = add_job(url, SLEEP, seconds=1.5)
    wait_until(lambda: job(url, slow)["status"] == "polled", 10, "the slow job claimed", worker)
    worker.signal(signal.SIGTERM)
    assert worker.wait(30) == 0, worker.log
    assert "Received SIGTERM. Shutting down..." in worker.log
    slow_job = job(url, slow)
    assert slow_job["resultStatus"] == "success", slow_job
    assert slow_job["claims"] == 1
    messages = {job_id: job(url, job_id)["resultMessage"] for job_id in quick}
    assert messages[quick[1]] == "DeviceUnreachableError: failing on purpose"
    assert messages[quick[2]].startswith(
        "Invalid parameters for fb.examples.neops/echo:1.0.0: message: Field required"
    )
    (registered,) = workers(url)
    assert registered["name"] == "itest-worker"
    assert registered["state"] == "offline"
    assert engine.recorder.matching("POST", f"/workers/{registered['uuid']}/unregister")


def test_every_request_validates_against_the_contract(engine: EngineUnderTest, start_worker: Any) -> None:
    """Every body the real worker sent during a run validates against the protocol schemas."""
    url = engine.url
    ids = [
        add_job(url, ECHO, message="x"),
        add_job(url, "fb.examples.neops/set_software_release:1.0.0", "acquire", software_release="1"),
    ]
    worker = start_worker(url)
    _wait_results(url, ids, worker)
    worker.signal(signal.SIGTERM)
    assert worker.wait(30) == 0
    checked = 0
    for request in engine.recorder.requests:
        dto = SCHEMA_BY_PATH.get(request.path)
        if dto is not None and request.method == "POST":
            assert_sent_body(dto, request.json())
            checked += 1
        elif request.path.endswith(("/ping", "/unregister")):
            assert request.body == b""
    assert checked >= 8
    polls = [
        r.json() for r in engine.recorder.matching("POST", "/blackboard/job") if r.path == "/blackboard/job"
    ]
    assert all(poll["limit"] == 1 for poll in polls)


def test_idle_worker_stops_on_sigint(engine: EngineUnderTest, start_worker: Any) -> None:
    """An idle worker stops at once on SIGINT: unregistered, exit 0."""
    worker = start_worker(engine.url)
    worker.wait_for_log(EXAMPLES_REGISTERED)
    worker.signal(signal.SIGINT)
    assert worker.wait(10) == 0
    assert "Received SIGINT. Shutting down..." in worker.log
    assert workers(engine.url)[0]["state"] == "offline"


def test_second_signal_abandons_the_job_with_exit_1(engine: EngineUnderTest, start_worker: Any) -> None:
    """A second SIGTERM (a second request: more than a second later) gives up on the job: exit 1, named."""
    slow = add_job(engine.url, SLEEP, seconds=60)
    worker = start_worker(engine.url)
    wait_until(lambda: job(engine.url, slow)["status"] == "polled", 20, "the slow job claimed", worker)
    worker.signal(signal.SIGTERM)
    worker.wait_for_log("Received SIGTERM. Shutting down...")
    time.sleep(1.1)  # within a second it would be the same request delivered twice (uv run, a group kill)
    worker.signal(signal.SIGTERM)
    assert worker.wait(20) == 1
    assert f"abandoning job {slow}" in worker.log
    assert f"Shutdown cut short by a second SIGTERM: abandoned job {slow}" in worker.output[-1]


def test_shutdown_timeout_ends_the_drain(engine: EngineUnderTest, start_worker: Any) -> None:
    """SHUTDOWN_TIMEOUT bounds the drain: exit 1, the job named, the worker still unregisters."""
    slow = add_job(engine.url, SLEEP, seconds=60)
    worker = start_worker(engine.url, SHUTDOWN_TIMEOUT=1)
    wait_until(lambda: job(engine.url, slow)["status"] == "polled", 20, "the slow job claimed", worker)
    worker.signal(signal.SIGTERM)
    assert worker.wait(20) == 1
    assert f"SHUTDOWN_TIMEOUT (1 s); abandoning job {slow}" in worker.log
    assert workers(engine.url)[0]["state"] == "offline"


def test_heartbeat_goes_on_during_a_blocking_job(engine: EngineUnderTest, start_worker: Any) -> None:
    """A block that blocks its thread for 4 s does not stop pings (HEARTBEAT_INTERVAL=0.5)."""
    slow = add_job(engine.url, SLEEP, seconds=4)
    worker = start_worker(engine.url, HEARTBEAT_INTERVAL=0.5)
    wait_until(lambda: _finished(engine.url, slow), 30, "the slow job's result", worker)
    pings = [r.at for r in engine.recorder.requests if r.path.endswith("/ping")]
    gaps = [b - a for a, b in pairwise(pings)]
    assert len(pings) >= 6
    assert max(gaps) < 2.5, gaps  # a loop blocked by the job would show a gap of about 4 s
    worker.signal(signal.SIGTERM)
    assert worker.wait(20) == 0


def test_ping_404_reregisters_and_keeps_working(engine: EngineUnderTest, start_worker: Any) -> None:
    """On 404 the worker registers again under a new id, re-registers its blocks and keeps taking jobs."""
    worker = start_worker(engine.url)
    worker.wait_for_log(EXAMPLES_REGISTERED)
    expired = {"done": False}

    def expire_once(method: str, path: str) -> tuple[int, Any] | None:
        if path.endswith("/ping") and not expired["done"]:
            expired["done"] = True
            return 404, {"statusCode": 404, "message": "Worker not found"}
        return None

    engine.recorder.fault = expire_once
    worker.wait_for_log("Worker expired! Backend rejected ping with 404.")
    wait_until(
        lambda: len(engine.recorder.matching("POST", "/workers/register")) == 2, 20, "re-registration", worker
    )
    after = add_job(engine.url, ECHO, message="still here")
    wait_until(lambda: _finished(engine.url, after), 20, "a job after re-registration", worker)
    ids = {w["uuid"] for w in workers(engine.url)}
    assert len(ids) == 2
    assert (
        job(engine.url, after)["workerId"] == max(workers(engine.url), key=lambda w: w["createdAt"])["uuid"]
    )
    worker.signal(signal.SIGTERM)
    assert worker.wait(20) == 0


def test_result_push_survives_an_outage(engine: EngineUnderTest, start_worker: Any) -> None:
    """Result pushes answered 503 are retried until the engine takes them: exactly one result."""
    failures = {"left": 2}

    def outage(method: str, path: str) -> tuple[int, Any] | None:
        if path == "/blackboard/job/result" and failures["left"] > 0:
            failures["left"] -= 1
            return 503, {"message": "engine restarting"}
        return None

    engine.recorder.fault = outage
    job_id = add_job(engine.url, ECHO, message="x")
    worker = start_worker(engine.url)
    wait_until(lambda: _finished(engine.url, job_id), 30, "the result after the outage", worker)
    assert len(engine.recorder.matching("POST", "/blackboard/job/result")) == 3
    assert "retrying in" in worker.log
    worker.signal(signal.SIGTERM)
    assert worker.wait(20) == 0


def test_incompatible_engine_stops_the_worker(engine: EngineUnderTest, start_worker: Any) -> None:
    """Only an explicit 'compatible: false' stops the start: exit 1, nothing registered."""

    def incompatible(method: str, path: str) -> tuple[int, Any] | None:
        if path == "/version/compatibility":
            return 201, {
                "compatible": False,
                "deprecated": False,
                "version": "9.0.0",
                "checkedLibrary": "neops_workflow_engine_client",
                "checkedVersion": "0.42.1",
            }
        return None

    engine.recorder.fault = incompatible
    worker = start_worker(engine.url)
    assert worker.wait(20) == 1
    assert "is incompatible" in worker.log
    assert workers(engine.url) == []


def test_rejected_registration_shows_the_engine_message(engine: EngineUnderTest, start_worker: Any) -> None:
    """A permanent 4xx at registration stops at once with the engine's message: exit 1."""
    engine.recorder.fault = lambda method, path: (
        (400, {"statusCode": 400, "error": "Bad Request", "message": "ipAddress must be an IP address"})
        if path == "/workers/register"
        else None
    )
    worker = start_worker(engine.url)
    assert worker.wait(20) == 1
    assert "Worker registration failed" in worker.log
    assert "ipAddress must be an IP address" in worker.log
    assert len(engine.recorder.matching("POST", "/workers/register")) == 1


def test_reregistration_is_retried_until_accepted(engine: EngineUnderTest, start_worker: Any) -> None:
    """After a 404 a refused re-registration is tried again at the next heartbeat; then work goes on."""
    worker = start_worker(engine.url)
    worker.wait_for_log(EXAMPLES_REGISTERED)
    state = {"expired": False, "refused": 0}

    def expire_then_refuse_once(method: str, path: str) -> tuple[int, Any] | None:
        if path.endswith("/ping") and not state["expired"]:
            state["expired"] = True
            return 404, {"statusCode": 404, "message": "Worker not found"}
        if path == "/workers/register" and state["refused"] == 0:
            state["refused"] += 1
            return 400, {"statusCode": 400, "message": ["name is taken"], "error": "Bad Request"}
        return None

    engine.recorder.fault = expire_then_refuse_once
    worker.wait_for_log("Re-registration failed")
    after = add_job(engine.url, ECHO, message="back")
    wait_until(lambda: _finished(engine.url, after), 20, "a job after the second re-registration", worker)
    assert len(engine.recorder.matching("POST", "/workers/register")) == 3
    worker.signal(signal.SIGTERM)
    assert worker.wait(20) == 0


def test_refused_block_registration_unregisters_and_exits_1(
    engine: EngineUnderTest, start_worker: Any
) -> None:
    """A block the engine refuses (400) stops the start: the worker unregisters itself and exits 1."""
    engine.recorder.fault = lambda method, path: (
        (400, {"statusCode": 400, "message": ["fbType must be one of ..."], "error": "Bad Request"})
        if path == "/function-blocks/register"
        else None
    )
    worker = start_worker(engine.url)
    assert worker.wait(20) == 1
    assert "Function block registration failed" in worker.log
    assert "fbType must be one of" in worker.log
    (registered,) = workers(engine.url)
    assert engine.recorder.matching("POST", f"/workers/{registered['uuid']}/unregister")
