"""The operator commands: ``engine`` as a real process, ``submit``/``jobs``/``workers`` against a local
engine with a real worker, and ``demo`` end to end as a subprocess."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from neops_worker.cli import app
from neops_worker.devkit.demo import SAMPLE_JOBS
from neops_worker.devkit.local_client._submit import resolve_block
from neops_worker.devkit.local_engine import LocalEngine
from neops_worker.devkit.local_engine.models import DevFunctionBlock
from neops_worker.devkit.local_engine.process import READY_PATTERN
from neops_worker.errors import ConfigurationError
from tests.integration.support import BENCH_BLOCKS, WORKER_COMMAND, WorkerProcess, add_job, job, wait_until

ROUTER = {"id": 7, "hostname": "edge-rtr-07", "softwareRelease": "17.6.5"}


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A local engine in this process with one real worker on the bundled blocks, shared by the module."""
    with LocalEngine(":memory:") as engine:
        worker = WorkerProcess(engine.url, tmp_path_factory.mktemp("worker"), WORKER_NAME="op-worker")
        try:
            worker.wait_for_log("Worker state: registered -> idle")
            yield engine.url
        finally:
            worker.stop()


@pytest.fixture(autouse=True)
def _own_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run every command in ``tmp_path``, so no stray .env is read."""
    monkeypatch.chdir(tmp_path)


def invoke(*args: str) -> Result:
    """Run ``neops_worker ARGS`` in-process, wide enough that table cells are not folded."""
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


# --- engine -------------------------------------------------------------------------------------


def _read_lines(process: subprocess.Popen[str], into: list[str]) -> None:
    assert process.stdout is not None
    with process.stdout:  # closed at EOF: the engine is gone
        into.extend(process.stdout)


def test_engine_command_serves_until_sigterm(tmp_path: Path) -> None:
    """`engine` says it is the local development engine, serves contract and /_dev/, exits 0 on SIGTERM."""
    db = tmp_path / "state" / "engine.sqlite3"
    command = [*WORKER_COMMAND, "engine", "--port", "0", "--db", str(db), "--log-level", "warning"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines: list[str] = []
    threading.Thread(target=_read_lines, args=(process, lines), daemon=True).start()
    try:
        wait_until(lambda: any(READY_PATTERN.search(line) for line in lines), 20, "the ready line")
        base = next(m.group(1) for line in lines if (m := READY_PATTERN.search(line)))
        assert httpx.get(f"{base}/version", timeout=5).status_code == 200
        assert httpx.get(f"{base}/_dev/workers", timeout=5).json() == []
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0
    finally:
        process.kill()
    banner = "".join(lines)
    assert "LOCAL DEVELOPMENT engine" in banner
    assert "not the production neops engine" in banner
    assert db.is_file()


def test_engine_help_says_it_is_not_the_production_engine() -> None:
    """`engine --help` says it is the local development engine, not the production one."""
    result = invoke("engine", "--help")
    assert result.exit_code == 0
    assert "LOCAL DEVELOPMENT engine" in result.stdout
    assert "not the production" in result.stdout


def test_engine_without_the_engine_group_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without starlette/uvicorn installed, `engine` says which dependency group to install, exit 2."""
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # what find_spec reports for a missing package
    result = invoke("engine", "--port", "0")
    assert result.exit_code == 2
    assert "uv sync --group engine" in result.stderr
    assert "missing: uvicorn" in result.stderr


def test_engine_rejects_inconsistent_thresholds() -> None:
    """An offline threshold below the unreachable one is bad input: one line, exit 2."""
    result = invoke("engine", "--unreachable-after", "5", "--offline-after", "2")
    assert result.exit_code == 2
    assert result.stderr.startswith("neops_worker: error: engine options:")


# --- submit -------------------------------------------------------------------------------------


def test_submit_by_name_waits_and_exits_0_on_success(url: str) -> None:
    """`submit echo --wait` resolves the unique name, prints the job id first, then the result; exit 0."""
    result = invoke("submit", "echo", "--param", "message=hi", "--wait", "--url", url)
    assert result.exit_code == 0, result.output
    job_id = result.stdout.splitlines()[0]
    assert f"Job {job_id} success" in result.stdout
    assert '"echoed": "hi"' in result.stdout
    assert job(url, job_id)["functionBlockId"] == "fb.examples.neops/echo:1.0.0"


def test_submit_wait_exits_1_when_the_job_fails(url: str) -> None:
    """A failed result makes `submit --wait` exit 1, showing the block's message."""
    result = invoke("submit", "fb.examples.neops/fail:1.0", "-p", "mode=result", "--wait", "--url", url)
    assert result.exit_code == 1, result.output
    assert "failed" in result.stdout
    assert "failing on purpose" in result.stdout


def test_submit_device_job_from_files_carries_db_updates(url: str, tmp_path: Path) -> None:
    """Parameters and context come from files; run-on and entity default from the block and context."""
    (tmp_path / "params.json").write_text(json.dumps({"software_release": "17.9.4a"}))
    (tmp_path / "context.json").write_text(json.dumps({"devices": [ROUTER]}))
    result = invoke(
        "submit", "set_software_release", "--params-file", "params.json", "--context-file", "context.json",
        "--wait", "--json", "--url", url,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    detail = json.loads(result.stdout)
    assert (detail["runOn"], detail["entityId"], detail["resultStatus"]) == ("device", 7, "success")
    paths = [update["path"] for update in detail["result"]["result"]["dbUpdates"]["updates"]]
    assert paths == ["facts", "software_release"]


def test_submit_wait_follows_the_retries_of_a_failing_pure_block(url: str) -> None:
    """The engine retries the failing pure block: --wait shows the last attempt and the run FAILED_SAFE."""
    result = invoke("submit", "fail", "-p", "mode=result", "--wait", "--url", url)
    assert result.exit_code == 1, result.output
    job_id = result.stdout.splitlines()[0]
    assert f"(retry of {job_id[:8]})" in result.stdout
    assert "FAILED_SAFE (4 attempt(s), 0 rollback job(s))" in result.stdout


def test_a_failed_reversible_job_is_rolled_back_and_again_on_request(url: str, tmp_path: Path) -> None:
    """--wait shows the rollback job the engine made, FAILED_SAFE; --rollback-of rolls back again, new ids."""
    (tmp_path / "context.json").write_text(json.dumps({"devices": [ROUTER]}))
    result = invoke(
        "submit", "stage_config", "-p", "directory=staged", "-p", 'lines=["banner motd x"]',
        "-p", "fail_check=true", "--context-file", "context.json", "--wait", "--url", url,
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    job_id = result.stdout.splitlines()[0]
    assert f"rollback of {job_id[:8]}: success: Removed staged/device-7.cfg" in result.stdout
    assert "FAILED_SAFE (1 attempt(s), 1 rollback job(s))" in result.stdout
    again = [invoke("submit", "--rollback-of", job_id[:8], "--wait", "--url", url) for _ in range(2)]
    assert [run.exit_code for run in again] == [0, 0], again[0].output
    assert len({job_id, *(run.stdout.splitlines()[0] for run in again)}) == 3
    assert "Nothing staged in staged/device-7.cfg: nothing to undo" in again[1].stdout
    assert "FAILED_SAFE (1 attempt(s), 3 rollback job(s))" in again[1].stdout


def test_submit_without_wait_prints_only_the_id(url: str) -> None:
    """Without --wait the only output is the job id; a block no worker registered gets a warning."""
    result = invoke("submit", "other.pkg/thing:2.0", "--url", url)
    assert result.exit_code == 0
    job_id = result.stdout.strip()
    assert job(url, job_id)["functionBlockId"] == "other.pkg/thing:2.0.0"
    assert "no worker has registered other.pkg/thing:2.0.0 yet" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuchblock"], "no registered function block is called 'nosuchblock' (registered: "),
        (["echo", "--param", "message"], "--param 'message' is not key=value"),
        (["bad:id"], "block 'bad:id' must look like package/name:major.minor.patch"),
        (["echo", "--params-file", "missing.json"], "--params-file missing.json: cannot be read"),
    ],
)
def test_submit_bad_input_exits_2(url: str, args: list[str], message: str) -> None:
    """Unknown blocks, malformed parameters and unreadable files: one error line, exit 2."""
    result = invoke("submit", *args, "--url", url)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"neops_worker: error: {message}")
    assert len(result.stderr.splitlines()) == 1


def _block(package: str, name: str, version: tuple[int, int, int]) -> DevFunctionBlock:
    return DevFunctionBlock(
        function_block_id=f"{package}/{name}:{'.'.join(map(str, version))}",
        package=package, name=name, major_version=version[0], minor_version=version[1],
        patch_version=version[2], fb_type="none", run_on="global", description="", registered_at="",
        worker_ids=[], registration={},
    )  # fmt: skip


def test_a_name_registered_twice_is_ambiguous() -> None:
    """A bare name or package/name matching two registered versions must be given in full."""
    blocks = [
        _block("p", "probe", (1, 0, 0)),
        _block("p", "probe", (2, 0, 0)),
        _block("q", "other", (1, 0, 0)),
    ]
    for given in ("probe", "p/probe"):
        with pytest.raises(ConfigurationError, match=r"is ambiguous: p/probe:1\.0\.0, p/probe:2\.0\.0"):
            resolve_block(given, blocks)
    assert resolve_block("p/probe:2", blocks).fb_id == "p/probe:2.0.0"
    assert resolve_block("q/other", blocks).fb_id == "q/other:1.0.0"


# --- jobs, workers, errors ----------------------------------------------------------------------


def test_jobs_lists_state_block_worker_and_message(url: str) -> None:
    """`jobs` shows each job's short id, state, block, worker and message; --json gives full rows."""
    job_id = add_job(url, "fb.examples.neops/echo:1.0.0", message="listed")
    wait_until(lambda: job(url, job_id)["status"] == "pushed", 10, "the echo result")
    table = invoke("jobs", "--status", "pushed", "--url", url)
    assert table.exit_code == 0
    row = next(line for line in table.stdout.splitlines() if job_id[:8] in line)
    for cell in ("success", "fb.examples.neops/echo:1.0.0", "op-worker", "Echoed 6 characters"):
        assert cell in row
    rows = json.loads(invoke("jobs", "--json", "--url", url).stdout)
    assert {"jobId": job_id, "status": "pushed", "claims": 1}.items() <= rows_by_id(rows)[job_id].items()
    pending = json.loads(invoke("jobs", "--status", "pending", "--json", "--url", url).stdout)
    assert {row["status"] for row in pending} <= {"pending"}
    assert job_id not in rows_by_id(pending)


def rows_by_id(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Job rows by their id."""
    return {row["jobId"]: row for row in rows}


def test_workers_lists_state_and_last_ping(url: str) -> None:
    """`workers` shows the worker online, when it was last seen, its blocks and how many are reversible."""
    table = invoke("workers", "--url", url)
    assert table.exit_code == 0
    row = next(line for line in table.stdout.splitlines() if "op-worker" in line)
    assert "online" in row
    assert " s ago" in row
    assert "5 (2 reversible)" in row
    (listed,) = json.loads(invoke("workers", "--json", "--url", url).stdout)
    assert (listed["name"], listed["state"], len(listed["functionBlocks"])) == ("op-worker", "online", 5)


@pytest.mark.parametrize("command", [["jobs"], ["workers"], ["submit", "echo"]])
def test_unreachable_engine_is_one_line_and_exit_1(command: list[str]) -> None:
    """No engine at the URL: one error line naming it, exit 1."""
    result = invoke(*command, "--url", "http://127.0.0.1:9")
    assert result.exit_code == 1
    (line,) = result.stderr.splitlines()
    assert "cannot reach the engine at http://127.0.0.1:9 (connection refused)" in line


def test_a_url_without_dev_endpoints_is_named(url: str) -> None:
    """An engine without /_dev/ routes (not the local engine) gets a hint, exit 1."""
    result = invoke("jobs", "--url", f"{url}/elsewhere")
    assert result.exit_code == 1
    assert "HTTP 404" in result.stderr
    assert "only 'neops_worker engine' serves /_dev/" in result.stderr


# --- demo ---------------------------------------------------------------------------------------


def test_demo_runs_end_to_end_without_a_terminal(tmp_path: Path) -> None:
    """`demo` in another directory, output piped: every sample job's outcome, the retries, the rollback
    and FAILED_SAFE, a clean drain, exit 0, and closing hints that work after `uv sync` (`uv run ...`)."""
    result = subprocess.run(
        [*WORKER_COMMAND, "demo"], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for sample in SAMPLE_JOBS:
        outcome = "success" if sample.expect_success else "failed"
        assert any(sample.label in line and f" {outcome} in " in line for line in out.splitlines()), sample
    assert "failing block (attempt 4) failed in " in out
    assert any("config change (rollback) success in " in line and "Removed staged/device-1.cfg" in line
               for line in out.splitlines())  # fmt: skip
    assert "config change  run ended FAILED_SAFE" in out
    assert "Received SIGTERM. Shutting down..." in out
    assert "exited with code 0" in out
    assert "Demo OK: all 5 jobs ended as expected" in out
    hints = out[out.index("Try it by hand") :].splitlines()[1:]
    assert len(hints) == 5
    assert all(line.lstrip().startswith("uv run neops_worker") for line in hints), hints


def test_demo_on_a_directory_without_the_sample_blocks_fails_clearly() -> None:
    """`demo --blocks DIR` whose worker does not serve the sample blocks stops at once, exit 1."""
    result = invoke("demo", "--blocks", str(BENCH_BLOCKS))
    assert result.exit_code == 1
    assert "Demo FAILED: the worker does not serve fb.examples.neops/echo:1.0.0" in result.stdout
