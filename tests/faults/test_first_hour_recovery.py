"""Recovery is said: a worker through an engine outage logs the result's delivery and the engine's return.

The engine stays up and keeps its state; the fault proxy in front of it refuses every connection for a
few seconds while a result waits (issue 17, item 4).
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
from tests.faults.faultkit import FaultLayer, FaultProxy, engine_behind
from tests.faults.helpers import SLEEP, add_jobs, wait_all_pushed
from tests.integration.support import job, wait_until

#: Keeps a silent worker registered for a minute: the outage does not end the worker's claim.
PATIENT = EngineOptions(heartbeat_interval_s=1.0, unreachable_after=30, offline_after=60)
OUTAGE_S = 3.0


@pytest.fixture
def patient() -> Iterator[FaultyEngine]:
    """A local engine behind a fault layer that keeps a silent worker registered for a minute."""
    with engine_behind(FaultLayer, PATIENT) as (running, layer):
        yield FaultyEngine(running, layer)


def test_a_result_held_by_an_outage_is_said_delivered_and_the_engines_return_once(
    patient: FaultyEngine, proxy: Callable[[str], FaultProxy], start_worker: Any
) -> None:
    """Refused connections for 3 s: the return said once, the delivery with its attempts, then 'finished'."""
    front = proxy(patient.url)
    (job_id,) = add_jobs(patient.url, 1, SLEEP, seconds=1)
    worker = start_worker(front.url, RESULT_PUSH_TIMEOUT=120)
    wait_until(lambda: job(patient.url, job_id)["status"] == "polled", 20, "the job claimed", worker)
    front.down()
    worker.wait_for_log(f"Result push of job {job_id} failed (result of job {job_id}: ConnectError")
    time.sleep(OUTAGE_S)
    front.up()
    wait_all_pushed(patient.url, 1, 30, worker)
    worker.wait_for_log(f"Job {job_id} finished: success in ")
    lines = worker.output
    [back] = [i for i, line in enumerate(lines) if f"Engine at {front.url} answering again after " in line]
    [delivered] = [i for i, line in enumerate(lines) if f"Result of job {job_id} delivered after " in line]
    [finished] = [i for i, line in enumerate(lines) if f"Job {job_id} finished: success in " in line]
    said = re.search(r"answering again after ([\d.]+) s", lines[back])
    assert said is not None
    assert float(said.group(1)) >= OUTAGE_S
    assert re.search(r"delivered after \d+ attempts in [\d.]+ s", lines[delivered])
    assert " INFO " in lines[back]
    assert " INFO " in lines[delivered]
    assert back < delivered < finished
    assert ", result delivered after " in lines[finished]
    worker.signal(signal.SIGTERM)
    assert worker.wait(20) == 0
