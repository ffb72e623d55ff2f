"""Atomic claims under concurrency, and the background sweep on the real clock."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

from neops_worker.devkit.local_engine import EngineOptions, EngineStore, LocalEngine
from neops_worker.devkit.local_engine.models import NewJob, ResultSubmission
from neops_worker.engine.wire import JobExecutionResult, JobPoll, RegisterFunctionBlock, RegisterWorker
from tests.local_engine.helpers import FB_A, Api

JOBS = 500
POLLERS = 8


def drain_over_http(url: str, name: str, claimed: list[str], start: threading.Barrier) -> None:
    """One worker: register, then poll a random 1-3 jobs and push their results until the queue is empty."""
    api = Api(httpx.Client(base_url=url, timeout=30.0))
    worker_id = api.worker_with(FB_A, name=name)
    start.wait()
    while jobs := api.poll(worker_id, limit=random.randint(1, 3)):
        for job in jobs:
            claimed.append(job["jobId"])
            assert api.push_result(job["jobId"]).status_code == 201
    api.http.close()


def test_concurrent_pollers_claim_every_job_exactly_once() -> None:
    """8 workers polling 500 jobs at once over HTTP: every job is handed out once and finished once."""
    with LocalEngine() as engine:
        api = Api.connect(engine.url)
        job_ids = [api.add_job() for _ in range(JOBS)]
        claimed: list[str] = []
        start = threading.Barrier(POLLERS)
        threads = [
            threading.Thread(target=drain_over_http, args=(engine.url, f"w{i}", claimed, start))
            for i in range(POLLERS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sorted(claimed) == sorted(job_ids)
        rows = api.dev_jobs()
        assert {(row["status"], row["claims"]) for row in rows} == {("pushed", 1)}
        assert len({row["workerId"] for row in rows}) > 1, "the work should have been shared"
        api.http.close()


def drain_store(store: EngineStore, worker_id: str, claimed: list[str], start: threading.Barrier) -> None:
    """Claim one or two jobs at a time straight from a store and finish them, until none is left."""
    poll = JobPoll(function_block_ids=[FB_A], worker_id=worker_id, limit=random.randint(1, 2))
    start.wait()
    while jobs := store.claim_jobs(poll):
        for job in jobs:
            claimed.append(job.job_id)
            done = ResultSubmission(
                job_execution_id=job.job_id, status="success", result=JobExecutionResult(success=True)
            )
            store.submit_result(done)


def test_claims_are_atomic_across_connections_to_one_file(tmp_path: Path) -> None:
    """Two stores (two SQLite connections) on one file, 4 threads each: no job is claimed twice."""
    path = tmp_path / "engine.sqlite3"
    stores = [EngineStore.open(path), EngineStore.open(path)]
    first = stores[0]
    for _ in range(300):
        first.add_job(NewJob(function_block_id=FB_A.fb_id))
    workers = []
    for i in range(8):
        worker_id = first.register_worker(RegisterWorker(version="1", name=f"w{i}")).uuid
        registration = RegisterFunctionBlock(
            **FB_A.model_dump(),
            worker_id=worker_id,
            description="d",
            fb_type="none",
            parameter_json_schema={},
            result_data_json_schema={},
        )
        first.register_function_block(registration)
        workers.append(worker_id)
    claimed: list[str] = []
    start = threading.Barrier(8)
    threads = [
        threading.Thread(target=drain_store, args=(stores[i % 2], worker_id, claimed, start))
        for i, worker_id in enumerate(workers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(claimed) == 300
    assert Counter(claimed).most_common(1)[0][1] == 1
    assert {row.claims for row in first.dev_jobs()} == {1}
    for store in stores:
        store.close()


def test_background_sweep_requeues_a_silent_workers_job_without_any_request() -> None:
    """On the real clock the background sweep expires a silent worker and re-queues its job by itself."""
    options = EngineOptions(
        heartbeat_interval_s=0.05, unreachable_after=2, offline_after=4, sweep_interval_s=0.05
    )
    with LocalEngine(options=options) as engine:
        api = Api.connect(engine.url)
        worker_id = api.worker_with(FB_A)
        job_id = api.add_job()
        api.poll(worker_id)
        deadline = time.monotonic() + 5
        # /_dev/jobs never sweeps: only the background task can put the job back.
        while api.dev_job(job_id)["status"] != "pending":
            assert time.monotonic() < deadline, "the job was not re-queued"
            time.sleep(0.02)
        assert api.dev_job(job_id)["claims"] == 1
        api.http.close()
