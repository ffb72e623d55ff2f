"""Recovery from an engine outage: a result held back is pushed as soon as the engine answers again.

The outage is the one of a restarting engine behind a load balancer: first 503 answers (the fault layer
answers instead of the engine), then refused connections (the fault proxy stops listening). The engine
keeps its state throughout and is told to wait long before it expires a silent worker, so the outage
does not end the worker's claim.
"""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from neops_worker.devkit.local_engine import EngineOptions
from tests.faults.conftest import FaultyEngine
from tests.faults.faultkit import Action, Answer, Call, FaultLayer, FaultProxy, engine_behind
from tests.faults.helpers import SLEEP, add_jobs, assert_exactly_once, wait_all_pushed
from tests.integration.support import WorkerProcess, job, wait_until

#: HEARTBEAT_INTERVAL of the worker under test (``WorkerProcess``'s default) and the slack on top of it.
HEARTBEAT_S = 1.0
RECOVERY_LIMIT_S = 1.5
#: A backoff at least this long is waiting when the engine returns: without the wake, the result would
#: arrive this much after the engine's return, well past RECOVERY_LIMIT_S.
LONG_WAIT_S = 3.0
PATIENT = EngineOptions(heartbeat_interval_s=1.0, unreachable_after=30, offline_after=60)
UNAVAILABLE = Answer(503, {"statusCode": 503, "message": "Service Unavailable"})


@pytest.fixture
def patient() -> Iterator[FaultyEngine]:
    """A local engine behind a fault layer that keeps a silent worker registered for a minute."""
    with engine_behind(FaultLayer, PATIENT) as (running, layer):
        yield FaultyEngine(running, layer)


def _all_unavailable(call: Call) -> Action | None:
    return UNAVAILABLE


def _long_push_wait(worker: WorkerProcess, job_id: str, since: int) -> Callable[[], bool]:
    """True once a push retry logged after line ``since`` waits LONG_WAIT_S or more on a refused connect."""
    pattern = re.compile(
        rf"Result push of job {job_id} failed \(result of job {job_id}: ConnectError.*retrying in ([\d.]+) s"
    )

    def waiting_long() -> bool:
        matches = (pattern.search(line) for line in worker.output[since:])
        return any(match and float(match.group(1)) >= LONG_WAIT_S for match in matches)

    return waiting_long


def test_a_result_held_by_an_outage_is_pushed_at_the_engines_next_answer(
    patient: FaultyEngine, proxy: Callable[[str], FaultProxy], start_worker: Any
) -> None:
    """503s, then refused connections, while a result waits: pushed within a heartbeat of the return, once."""
    front = proxy(patient.url)
    (job_id,) = add_jobs(patient.url, 1, SLEEP, seconds=1)
    worker = start_worker(front.url, RESULT_PUSH_TIMEOUT=120)
    wait_until(lambda: job(patient.url, job_id)["status"] == "polled", 20, "the job claimed", worker)
    patient.layer.plan = _all_unavailable
    worker.wait_for_log(f"Result push of job {job_id} failed (result of job {job_id}: HTTP 503")
    # 503 answers wake nothing: the engine is still away. Two heartbeats see them before connections fail.
    pings_503 = "Heartbeat failed (heartbeat: HTTP 503"
    wait_until(lambda: worker.log.count(pings_503) >= 2, 10, "two pings answered 503", worker)
    refused_from = len(worker.output)
    front.down()
    wait_until(_long_push_wait(worker, job_id, refused_from), 90, "a long push backoff", worker)
    patient.layer.plan = None
    back = time.monotonic()
    front.up()
    wait_all_pushed(patient.url, 1, 30, worker)
    accepted = [e for e in patient.layer.of_kind("result") if e.status is not None and e.status < 300]
    assert len(accepted) == 1
    assert accepted[0].at - back < RECOVERY_LIMIT_S, f"result {accepted[0].at - back:.2f} s after the return"
    assert f"Result push of job {job_id}: the engine answers again; retrying now" in worker.log
    assert_exactly_once(patient.url, [job_id], worker)
    assert patient.layer.accepted_results() == {job_id: 1}
    worker.signal(signal.SIGTERM)
    assert worker.wait(20) == 0
