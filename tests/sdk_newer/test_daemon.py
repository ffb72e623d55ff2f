"""The ported repository in the real daemon: every block runs, ``meta`` says the job, nothing marked leaks.

The worker is the ``neops-worker`` console script in a subprocess, started in the ported copy with
the repository's own ``.env`` (``LOG_REDACT_EXTRA_KEYS=site_code``), against the local engine on
127.0.0.1, in both isolation modes. ``site_banner`` logs its parameters and the commands it sends,
prints its site and returns it: the value of its ``SENSITIVE`` field ``enable`` and of its
``site_code`` must reach no line of the worker's output and nothing the engine stores.
"""

from __future__ import annotations

import json
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from neops_worker.devkit.local_engine import EngineOptions
from neops_worker.devkit.local_engine.models import NewJob
from neops_worker.testing import device, interface, job_context
from tests.faults.faultkit import engine_behind
from tests.integration.support import Recorder, WorkerProcess, job, wait_until, workers
from tests.sdk_newer.repository import BANNER, INVENTORY, SUMMARY

REDACTED = "**********"
#: The marked values: long and distinct enough to be found anywhere they leak.
ENABLE, SITE_CODE = "en-4711-secret", "zrh-site-2207"
ROUTER = device(42, hostname="core-rtr-01", ip="192.0.2.11", username="admin", platform={"short_name": "ios"})
CONTEXT = job_context(
    devices=[ROUTER],
    interfaces=[interface(7, name="Gi0/1", device={"id": 42}), interface(8, name="Lo0", device={"id": 42})],
)
#: Each block of the repository, and the parameters of its job.
JOBS: dict[str, dict[str, Any]] = {
    SUMMARY: {"interface_prefix": "Gi"},
    INVENTORY: {},
    BANNER: {"site_code": SITE_CODE, "enable": ENABLE},
}


@pytest.fixture
def engine_url() -> Iterator[str]:
    """A local engine on a free loopback port (in memory)."""
    options = EngineOptions(heartbeat_interval_s=1.0, unreachable_after=3, offline_after=6)
    with engine_behind(Recorder, options) as (running, _recorder):
        yield str(running.url)


@pytest.fixture(params=["process", "thread"])
def worker(request: pytest.FixtureRequest, newer_repo: Path, engine_url: str) -> Iterator[WorkerProcess]:
    """The real worker in the ported copy, its ``.env`` made from ``.env.example``, all blocks registered."""
    shutil.copy(newer_repo / ".env.example", newer_repo / ".env")
    blocks = str(newer_repo / "blocks")
    process = WorkerProcess(engine_url, newer_repo, DIR_FUNCTION_BLOCKS=blocks, JOB_ISOLATION=request.param)
    try:
        process.wait_for_log("Registered 3 function block(s)")
        yield process
    finally:
        process.stop()


def run_on_router(url: str, fb_id: str, worker: WorkerProcess) -> tuple[str, dict[str, Any]]:
    """One job of ``fb_id`` on device 42, waited for: its id and the job as the engine stores it."""
    new = NewJob(
        function_block_id=fb_id, parameters=JOBS[fb_id], context=CONTEXT, run_on="device", entity_id=42
    )
    response = httpx.post(f"{url}/_dev/jobs", json=new.to_wire(), timeout=10)
    job_id = str(response.raise_for_status().json()["jobId"])
    wait_until(lambda: job(url, job_id)["status"] == "pushed", 30, f"the result of {job_id}", worker)
    worker.wait_for_log(f"Job {job_id} finished")
    return job_id, job(url, job_id)


def test_every_block_runs_with_its_job_meta_and_leaks_nothing_marked(
    engine_url: str, worker: WorkerProcess
) -> None:
    """Each block succeeds saying its job and worker; enable and site_code are asterisks everywhere."""
    (registered,) = workers(engine_url)
    said = {fb_id: run_on_router(engine_url, fb_id, worker) for fb_id in JOBS}
    for fb_id, (job_id, stored) in said.items():
        assert stored["resultStatus"] == "success", stored
        if fb_id != BANNER:
            assert stored["resultMessage"].endswith(f" (job {job_id}, worker {registered['uuid']})"), stored
    banner_job, banner = said[BANNER]
    data = banner["result"]["result"]["data"]
    assert (data["job_id"], data["worker_id"]) == (banner_job, registered["uuid"])
    assert data["banner"] == f"ACME site {REDACTED}: authorised access only"
    assert said[SUMMARY][1]["result"]["result"]["data"]["interfaces"] == ["Gi0/1"]
    worker.wait_for_log(f"Sending ['enable', '{REDACTED}', 'configure terminal', ")
    worker.wait_for_log(f"sent 4 commands to core-rtr-01 for site {REDACTED}")
    kept = json.dumps([(row["resultMessage"], row["result"], row["logs"]) for _id, row in said.values()])
    for value in (ENABLE, SITE_CODE):
        assert value not in worker.log
        assert value not in kept
    worker.signal(signal.SIGTERM)
    assert worker.wait(30) == 0, worker.log
