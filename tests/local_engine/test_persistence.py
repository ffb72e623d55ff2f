"""State survives an engine restart: same SQLite file, in-process and as a SIGKILLed child process."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from neops_worker.devkit.local_engine import EngineOptions, EngineProcess, EngineStore, LocalEngine
from neops_worker.devkit.local_engine._schema import SCHEMA_VERSION
from neops_worker.devkit.local_engine.store import StoreSchemaError
from neops_worker.engine.wire import RegisterWorker
from tests.local_engine.helpers import FB_A, FB_B, Api, FakeClock


def test_everything_survives_a_restart_on_the_same_file(tmp_path: Path) -> None:
    """Workers, block links, queued, claimed and finished jobs, results and logs survive stop and start."""
    db = tmp_path / "engine.sqlite3"
    with LocalEngine(db) as engine:
        api = Api.connect(engine.url)
        worker_id = api.worker_with(FB_A, name="survivor")
        done, claimed, waiting = api.add_job(), api.add_job(), api.add_job()
        api.poll(worker_id, limit=2)
        api.push_result(done, message="kept")
        api.http.close()
    with LocalEngine(db) as engine:
        api = Api.connect(engine.url)
        assert api.http.get(f"/workers/{worker_id}").json()["name"] == "survivor"
        assert api.http.post(f"/workers/{worker_id}/ping").status_code == 200
        states = {row["jobId"]: (row["status"], row["claims"]) for row in api.dev_jobs()}
        assert states == {done: ("pushed", 1), claimed: ("polled", 1), waiting: ("pending", 0)}
        assert api.dev_job(done)["result"]["result"]["message"] == "kept"
        assert api.push_result(done).status_code == 409
        assert [job["jobId"] for job in api.poll(worker_id)] == [waiting]
        assert api.register_fb(worker_id).status_code == 409
        api.http.close()


def timeless(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Job rows by id without their ages, which grow between two looks."""
    return {
        row["jobId"]: {key: value for key, value in row.items() if not key.endswith("AgeS")} for row in rows
    }


def test_runs_retries_and_rollback_jobs_survive_a_restart(tmp_path: Path) -> None:
    """A retried job's links, a pending rollback job and the run states are the same after a restart."""
    db = tmp_path / "engine.sqlite3"
    with LocalEngine(db) as engine:
        api = Api.connect(engine.url)
        worker_id = api.worker_with(FB_A, reversible=True)
        api.register_fb(worker_id, FB_B, is_pure=True)
        rolled, retried = api.add_job(), api.add_job(FB_B)
        api.run_once(worker_id, success=False)
        api.run_once(worker_id, success=False, fb=FB_B)
        before = timeless(api.dev_jobs())
        api.http.close()
    with LocalEngine(db) as engine:
        api = Api.connect(engine.url)
        assert timeless(api.dev_jobs()) == before
        assert [row["runState"] for row in (before[rolled], before[retried])] == ["ROLLBACK", "RUNNING"]
        assert [job["type"] for job in api.poll(worker_id, [FB_A, FB_B])] == ["rollback", "execute"]
        api.http.close()


def test_a_file_of_another_schema_version_is_refused(tmp_path: Path) -> None:
    """A database written by another version of the local engine is refused, naming both versions."""
    db = tmp_path / "engine.sqlite3"
    with sqlite3.connect(db) as old:
        old.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        old.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    old.close()
    with pytest.raises(
        StoreSchemaError, match=f"database schema version 1, this engine needs {SCHEMA_VERSION}"
    ):
        EngineStore.open(db)


def test_a_restart_gives_live_workers_a_full_offline_period(tmp_path: Path) -> None:
    """After a restart a worker is not expired for the time the engine was down, only after new silence."""
    db = tmp_path / "engine.sqlite3"
    clock = FakeClock()
    options = EngineOptions(heartbeat_interval_s=10, unreachable_after=2, offline_after=5)
    store = EngineStore.open(db, options, clock)
    worker_id = store.register_worker(RegisterWorker(version="1")).uuid
    store.close()
    clock.advance(3600)  # the engine was down for an hour
    store = EngineStore.open(db, options, clock)
    assert store.ping(worker_id)
    clock.advance(51)
    assert not store.ping(worker_id)
    store.close()


def test_sigkilled_engine_process_restarts_with_its_state(tmp_path: Path) -> None:
    """An engine child process killed with SIGKILL comes back on the same port with every committed change."""
    engine = EngineProcess(tmp_path / "engine.sqlite3", log_path=tmp_path / "engine.log").start()
    try:
        api = Api.connect(engine.url)
        worker_id = api.worker_with(FB_A)
        job_id = api.add_job()
        api.poll(worker_id)
        api.push_result(job_id, message="before the crash")
        url = engine.url
        engine.kill()
        engine.restart()
        assert engine.url == url
        job = api.dev_job(job_id)
        assert (job["status"], job["resultMessage"], job["claims"]) == ("pushed", "before the crash", 1)
        assert api.http.post(f"/workers/{worker_id}/ping").status_code == 200
        api.http.close()
    finally:
        assert engine.terminate() == 0
