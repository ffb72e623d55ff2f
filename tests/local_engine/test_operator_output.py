"""What ``jobs``, ``workers`` and ``submit`` show of runs: attempts and retries, ``retryable``, rollback jobs
and the job they undo, the run's end state, reversible blocks; ``submit --rollback-of``."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from neops_worker.cli import app
from neops_worker.devkit.local_client._engine import describe
from neops_worker.devkit.local_engine import EngineOptions, LocalEngine
from tests.local_engine.helpers import FB_A, FB_B, Api
from tests.local_engine.test_references import ID_LESS


def invoke(*args: str) -> Result:
    """Run ``neops_worker ARGS`` in-process, wide enough that table cells are not folded."""
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "250"})


def row_of(table: str, job_id: str) -> str:
    """The line of ``table`` that shows the job (by its short id)."""
    return next(line for line in table.splitlines() if job_id[:8] in line)


@pytest.fixture(autouse=True)
def _own_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run every command in ``tmp_path``, so no stray .env is read."""
    monkeypatch.chdir(tmp_path)


def test_jobs_shows_retries_rollback_and_run_states(api: Api, engine: LocalEngine) -> None:
    """A retried job, a rollback job with the job it undoes, retryable and the run's end state, per row."""
    worker_id = api.worker_with(FB_A, reversible=True)
    api.register_fb(worker_id, FB_B, is_pure=True)
    failed = api.add_job()
    pure = api.add_job(FB_B)
    api.run_once(worker_id, success=False, fb=FB_B, retryable=True)
    retry = api.run_once(worker_id, success=False, fb=FB_B, retryable=False)
    api.run_once(worker_id, success=False)
    rollback = api.run_once(worker_id, success=True)
    table = invoke("jobs", "--url", engine.url).stdout
    assert "retryable: true" in row_of(table, pure)
    assert f"execute, attempt 2 (retry of {pure[:8]})" in row_of(table, retry)
    assert "retryable: false" in row_of(table, retry)
    assert "FAILED_SAFE" in row_of(table, retry)
    assert f"rollback of {failed[:8]}" in row_of(table, rollback)
    assert "FAILED_SAFE" in row_of(table, failed)


def test_jobs_json_has_the_run_and_links(api: Api, engine: LocalEngine) -> None:
    """``jobs --json`` rows carry runId, runState, attempt, retryOf, retriedBy and rollbackOf."""
    api.add_job()
    [row] = json.loads(invoke("jobs", "--json", "--url", engine.url).stdout)
    assert {key: row[key] for key in ("runState", "attempt", "retryOf", "retriedBy", "rollbackOf")} == {
        "runState": "RUNNING",
        "attempt": 1,
        "retryOf": None,
        "retriedBy": None,
        "rollbackOf": None,
    }


def test_workers_shows_how_many_blocks_are_reversible(api: Api, engine: LocalEngine) -> None:
    """The Blocks column counts the worker's blocks and says how many are reversible."""
    worker_id = api.worker_with(FB_A, name="rolling", reversible=True)
    api.register_fb(worker_id, FB_B)
    table = invoke("workers", "--url", engine.url).stdout
    line = next(line for line in table.splitlines() if "rolling" in line)
    assert "2 (1 reversible)" in line
    assert " s ago" in line


def test_submit_rollback_of_a_short_id_queues_a_rollback_job(api: Api, engine: LocalEngine) -> None:
    """``submit --rollback-of`` with the start of a failed job's id prints the new rollback job's id."""
    worker_id = api.worker_with(FB_A, reversible=True)
    failed = api.add_job(parameters={"n": 1})
    api.run_once(worker_id, success=False)
    result = invoke("submit", "--rollback-of", failed[:8], "--url", engine.url)
    assert result.exit_code == 0, result.output
    made = result.stdout.strip()
    row = api.dev_job(made)
    assert (row["type"], row["rollbackOf"], row["parameters"]) == ("rollback", failed, {"n": 1})


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "name the block to run (BLOCK), or a failed job to roll back (--rollback-of)"),
        (
            ["echo", "--rollback-of", "abc"],
            "--rollback-of takes the failed job's block, parameters and context",
        ),
        (["--rollback-of", "zzz"], "no job id is or starts with 'zzz'"),
    ],
)
def test_submit_needs_a_block_or_a_job_to_roll_back(
    engine: LocalEngine, args: list[str], message: str
) -> None:
    """Neither, both, or an unknown job: one error line naming what to give, exit 2."""
    result = invoke("submit", *args, "--url", engine.url)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"neops_worker: error: {message}")


def test_submit_rollback_of_a_job_that_cannot_be_rolled_back(api: Api, engine: LocalEngine) -> None:
    """The engine's reason (not reversible) comes back as one error line, exit 1."""
    worker_id = api.worker_with(FB_A)
    failed = api.add_job()
    api.run_once(worker_id, success=False)
    result = invoke("submit", "--rollback-of", failed, "--url", engine.url)
    assert result.exit_code == 1
    assert "is not registered reversible" in result.stderr


def test_submit_takes_a_context_with_id_less_references(
    api: Api, engine: LocalEngine, tmp_path: Path
) -> None:
    """``submit --context-file`` with references that have no id queues the job with that context."""
    (tmp_path / "context.json").write_text(json.dumps(ID_LESS))
    result = invoke(
        "submit", FB_A.fb_id, "--context-file", "context.json", "--run-on", "device", "--url", engine.url
    )
    assert result.exit_code == 0, result.output
    job = api.dev_job(result.stdout.strip().splitlines()[-1])
    assert (job["context"], job["entityId"]) == (ID_LESS, 42)


def test_engine_refuses_a_database_of_another_version(tmp_path: Path) -> None:
    """`engine` on a file another version wrote: one error line saying what to do, exit 1."""
    db = tmp_path / "old.sqlite3"
    with sqlite3.connect(db) as old:
        old.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        old.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    old.close()
    result = invoke("engine", "--port", "0", "--db", str(db), "--log-level", "error")
    assert result.exit_code == 1
    (line,) = result.stderr.splitlines()
    assert line.endswith("use another --db file, or delete this one (its state is lost); --fresh does that")


def test_engine_options_are_checked_and_described() -> None:
    """A bad size is one usage line (exit 2); the banner says the contract, retries, limits and timers."""
    result = invoke("engine", "--max-body-size", "lots")
    assert result.exit_code == 2
    assert "size 'lots' must be a number of bytes" in result.stderr
    assert describe(EngineOptions(contract="0.42.1", max_workers=2, stuck_job_timeout_s=0)) == (
        "Contract 0.42.1 (version 0.42.1-local): no retries, no rollback; licence limits: 2 workers; "
        "stuck jobs failed after: never; result and log bodies up to 50 MB."
    )
