"""The stuck-job timeout: a job still claimed after it is failed by the engine's sweep, with a reason;
a result pushed later gets 409."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from neops_worker.devkit.local_engine import EngineOptions, LocalEngine
from tests.local_engine.helpers import FB_A, Api, FakeClock

STUCK_S = 30.0


@pytest.fixture
def stuck_api(clock: FakeClock) -> Iterator[Api]:
    """An engine failing jobs claimed for more than 30 s; workers expire only after 100 s of silence."""
    options = EngineOptions(heartbeat_interval_s=20, stuck_job_timeout_s=STUCK_S, sweep_interval_s=60)
    with LocalEngine(options=options, clock=clock) as engine:
        client = Api.connect(engine.url)
        yield client
        client.http.close()


def test_a_job_claimed_past_the_timeout_is_failed_with_a_reason(stuck_api: Api, clock: FakeClock) -> None:
    """The sweep fails the job: failed, by the engine, the message naming the worker and the timeout."""
    worker_id = stuck_api.worker_with(FB_A)
    job_id = stuck_api.add_job()
    stuck_api.poll(worker_id)
    clock.advance(STUCK_S - 1)
    stuck_api.http.post("/_dev/sweep")
    assert stuck_api.dev_job(job_id)["status"] == "polled"
    clock.advance(2)
    stuck_api.http.post("/_dev/sweep")
    row = stuck_api.dev_job(job_id)
    assert (row["status"], row["resultStatus"], row["failedByEngine"]) == ("pushed", "failed", True)
    assert row["resultMessage"].startswith(f"Failed by the engine: claimed by worker {worker_id} at ")
    assert row["resultMessage"].endswith("no result within the stuck-job timeout of 30 s")
    assert row["result"]["result"] == {"success": False, "message": row["resultMessage"]}


def test_a_result_after_the_timeout_gets_409_saying_why(stuck_api: Api, clock: FakeClock) -> None:
    """The late result is refused with 409 naming the stuck-job timeout; the engine's failure stays."""
    worker_id = stuck_api.worker_with(FB_A)
    job_id = stuck_api.add_job()
    stuck_api.poll(worker_id)
    clock.advance(STUCK_S + 1)
    stuck_api.http.post("/_dev/sweep")
    late = stuck_api.push_result(job_id, message="too late")
    assert late.status_code == 409
    assert late.json()["message"] == (
        f"Job {job_id} already has a result: the engine failed it after the stuck-job timeout (30 s)"
    )
    assert stuck_api.dev_job(job_id)["failedByEngine"] is True


def test_a_stuck_job_of_a_non_reversible_block_ends_its_run_unsafe(stuck_api: Api, clock: FakeClock) -> None:
    """The engine's failure is a failure like any other: a non-pure, non-reversible block's run is unsafe."""
    worker_id = stuck_api.worker_with(FB_A)
    job_id = stuck_api.add_job()
    stuck_api.poll(worker_id)
    clock.advance(STUCK_S + 1)
    stuck_api.http.post("/_dev/sweep")
    assert stuck_api.dev_job(job_id)["runState"] == "FAILED_UNSAFE"


def test_the_background_sweep_fails_a_stuck_job_by_itself() -> None:
    """On the real clock, with no request at all, the job is failed soon after the timeout."""
    options = EngineOptions(stuck_job_timeout_s=0.3, sweep_interval_s=0.05)
    with LocalEngine(options=options) as engine:
        api = Api.connect(engine.url)
        worker_id = api.worker_with(FB_A)
        job_id = api.add_job()
        api.poll(worker_id)
        deadline = time.monotonic() + 5
        while api.dev_job(job_id)["status"] != "pushed":  # /_dev/jobs never sweeps
            assert time.monotonic() < deadline, "the stuck job was not failed"
            time.sleep(0.05)
        assert api.dev_job(job_id)["failedByEngine"] is True
        api.http.close()


def test_a_timeout_of_0_never_fails_a_job(clock: FakeClock) -> None:
    """stuck_job_timeout_s=0: a job claimed for a day is still the worker's."""
    options = EngineOptions(heartbeat_interval_s=100_000, stuck_job_timeout_s=0)
    with LocalEngine(options=options, clock=clock) as engine:
        api = Api.connect(engine.url)
        worker_id = api.worker_with(FB_A)
        job_id = api.add_job()
        api.poll(worker_id)
        clock.advance(86_400)
        api.http.post("/_dev/sweep")
        assert api.dev_job(job_id)["status"] == "polled"
        api.http.close()
