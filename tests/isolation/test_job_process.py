"""Job processes, for real: misbehaving blocks, the real daemon, the local engine over HTTP, real signals.

Every crash, kill and hang ends with exactly one failed result for the job in hand, the worker
alive (but for the SIGKILL of the daemon itself), and the next job done.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest

from neops_worker.devkit.local_engine.models import NewJob
from tests.integration.conftest import EngineUnderTest
from tests.integration.support import WorkerProcess, add_job, job, wait_until

BLOCKS = Path(__file__).resolve().parent / "blocks"
MISBEHAVE = "fb.tests.isolation/misbehave:1.0.0"
SLEEP = "fb.examples.neops/sleep:1.0.0"


def _start(start_worker: Any, url: str, **settings: Any) -> WorkerProcess:
    worker: WorkerProcess = start_worker(url, DIR_FUNCTION_BLOCKS=str(BLOCKS), **settings)
    worker.wait_for_log("Worker state: registered -> idle")
    return worker


def _result(url: str, job_id: str, worker: WorkerProcess, timeout: float = 20) -> dict[str, Any]:
    wait_until(lambda: job(url, job_id)["status"] == "pushed", timeout, f"the result of {job_id}", worker)
    return job(url, job_id)


def _data(row: dict[str, Any]) -> dict[str, Any]:
    """The ``data`` of the stored result (the block's own facts)."""
    return dict(row["result"]["result"]["data"])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in _state(pid)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split("\n")[0].lower()
    except (OSError, IndexError):
        return "gone"


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in task.read_text().split():
            found += [int(child), *_descendants(int(child))]
    return found


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("sys_exit", "The function block called sys.exit(3)"),
        ("os_exit", "The job process exited with status 4 while running the job"),
        ("segfault", "The job process was killed by SIGSEGV while running the job"),
    ],
)
def test_a_dying_block_gives_one_failed_result_and_the_worker_goes_on(
    engine: EngineUnderTest, start_worker: Any, mode: str, expected: str
) -> None:
    """sys.exit, os._exit and a segfault each fail their job, say how, and the next job runs."""
    url = engine.url
    worker = _start(start_worker, url)
    bad, good = add_job(url, MISBEHAVE, mode=mode), add_job(url, MISBEHAVE)
    failed = _result(url, bad, worker)
    assert (failed["resultStatus"], failed["claims"]) == ("failed", 1)
    assert failed["resultMessage"].startswith(expected), failed
    assert _result(url, good, worker)["resultStatus"] == "success"
    assert worker.process.poll() is None
    assert f"Job {bad}" in worker.log
    assert f"misbehaving: {mode}" in worker.log  # the block's last output reached the log
    assert len(engine.recorder.matching("POST", "/blackboard/job/result")) == 2


def test_a_hang_past_job_timeout_is_killed_before_the_next_claim(
    engine: EngineUnderTest, start_worker: Any, tmp_path: Path
) -> None:
    """The hung job fails 'killed after JOB_TIMEOUT', its late write never lands, the next job waits."""
    url = engine.url
    worker = _start(start_worker, url, JOB_TIMEOUT="1")
    late = tmp_path / "late-change.txt"
    hung = add_job(url, MISBEHAVE, mode="hang", seconds=2, path=str(late))
    queued = add_job(url, MISBEHAVE)
    failed = _result(url, hung, worker)
    assert failed["resultMessage"] == "Job killed after JOB_TIMEOUT of 1 s"
    assert _result(url, queued, worker)["resultStatus"] == "success"
    pid = int(late.with_suffix(".pid").read_text())
    assert not _alive(pid)
    time.sleep(1.5)  # past the moment the hung block would have written its change
    assert not late.exists()
    assert job(url, queued)["claimedAt"] >= failed["finishedAt"]
    assert worker.process.poll() is None


def test_a_block_holding_the_gil_does_not_delay_heartbeats(
    engine: EngineUnderTest, start_worker: Any
) -> None:
    """A 4 s C call holding the GIL in the job process leaves the daemon's pings on time."""
    url = engine.url
    worker = _start(start_worker, url)
    held = add_job(url, MISBEHAVE, mode="hold_gil", seconds=4)
    wait_until(lambda: "misbehaving: hold_gil" in worker.log, 10, "the GIL-holding call", worker)
    started = time.monotonic()
    assert _result(url, held, worker)["resultStatus"] == "success"
    pings = [r.at for r in engine.recorder.requests if r.path.endswith("/ping") and r.at >= started - 1]
    gaps = [b - a for a, b in pairwise(pings)]
    assert len(pings) >= 4
    assert max(gaps) < 1.5, gaps


def test_memory_a_block_keeps_comes_back_with_a_recycle(engine: EngineUnderTest, start_worker: Any) -> None:
    """Past MAX_MEMORY_PER_PROCESS the job process is replaced between jobs, and its memory is gone."""
    url = engine.url
    worker = _start(start_worker, url, MAX_MEMORY_PER_PROCESS="100")
    rows = [_result(url, add_job(url, MISBEHAVE, mode="keep_memory", mib=40), worker) for _ in range(3)]
    facts = [_data(row) for row in rows]
    assert all(row["resultStatus"] == "success" for row in rows)
    assert "above MAX_MEMORY_PER_PROCESS (100 MiB)" in worker.log
    recycled = next(i for i, (a, b) in enumerate(pairwise(facts)) if a["pid"] != b["pid"])
    assert facts[recycled]["rss_mib"] > 100
    assert facts[recycled + 1]["rss_mib"] < facts[recycled]["rss_mib"] - 30
    wait_until(lambda: not _alive(facts[recycled]["pid"]), 5, "the recycled process to go", worker)


def test_max_jobs_per_process_replaces_the_process_between_jobs(
    engine: EngineUnderTest, start_worker: Any
) -> None:
    """With MAX_JOBS_PER_PROCESS=2 every second job is followed by a fresh process."""
    url = engine.url
    worker = _start(start_worker, url, MAX_JOBS_PER_PROCESS="2")
    pids = [_data(_result(url, add_job(url, MISBEHAVE), worker))["pid"] for _ in range(5)]
    assert pids[0] == pids[1] != pids[2] == pids[3] != pids[4]
    assert worker.log.count("(MAX_JOBS_PER_PROCESS)") == 2


def test_sigkill_of_the_daemon_leaves_no_job_process(
    engine: EngineUnderTest, start_worker: Any, tmp_path: Path
) -> None:
    """The template and the job process die with a SIGKILLed daemon (parent-death signals)."""
    url = engine.url
    worker = _start(start_worker, url)
    marker = tmp_path / "running.txt"
    add_job(url, MISBEHAVE, mode="hang", seconds=30, path=str(marker))
    wait_until(lambda: marker.with_suffix(".pid").exists(), 10, "the job process to start", worker)
    children = _descendants(worker.process.pid)
    job_pid = int(marker.with_suffix(".pid").read_text())
    assert job_pid in children
    worker.signal(signal.SIGKILL)
    worker.wait(10)
    deadline = time.monotonic() + 5
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [pid for pid in children if _alive(pid)] == []


def test_ctrl_c_to_the_whole_process_group_lets_the_job_finish(
    engine: EngineUnderTest, start_worker: Any
) -> None:
    """SIGINT to the worker's process group is for the daemon: the job finishes, is pushed, exit 0."""
    url = engine.url
    worker: WorkerProcess = start_worker(url, own_group=True)
    worker.wait_for_log("Worker state: registered -> idle")
    slow = add_job(url, SLEEP, seconds=1.5)
    wait_until(lambda: job(url, slow)["status"] == "polled", 10, "the slow job claimed", worker)
    time.sleep(0.3)
    os.killpg(worker.process.pid, signal.SIGINT)
    assert worker.wait(30) == 0, worker.log
    assert "Received SIGINT. Shutting down..." in worker.log
    assert job(url, slow)["resultStatus"] == "success"


@pytest.mark.parametrize("isolation", ["process", "thread"])
def test_a_password_in_an_exception_stays_out_of_logs_and_results(
    engine: EngineUnderTest, start_worker: Any, isolation: str
) -> None:
    """The device password in a block's exception is scrubbed from every log line and the result."""
    url = engine.url
    worker = _start(start_worker, url, JOB_ISOLATION=isolation, LOG_FORMAT="json")
    device = {"id": 1, "hostname": "r1", "ip": "192.0.2.1", "username": "admin", "password": "s3cr3t-Pa55"}
    body = NewJob(
        function_block_id=MISBEHAVE, parameters={"mode": "leak_password"}, context={"devices": [device]}
    ).to_wire()
    job_id = str(httpx.post(f"{url}/_dev/jobs", json=body, timeout=10).json()["jobId"])
    failed = _result(url, job_id, worker)
    assert failed["resultMessage"] == "ConnectionError: auth failed for admin:**********@192.0.2.1"
    worker.wait_for_log("**********@192.0.2.1")
    assert "s3cr3t-Pa55" not in worker.log
    assert all(json.loads(line) for line in worker.output if line.startswith("{"))


def test_every_line_a_block_printed_before_its_result_names_the_job_and_hides_its_secrets(
    engine: EngineUnderTest, start_worker: Any
) -> None:
    """4000 lines (more than the pipe holds) and a last one without a newline: all logged with the job's
    id, the password scrubbed from each, before the job's last line."""
    url = engine.url
    worker = _start(start_worker, url, LOG_FORMAT="json")
    device = {"id": 1, "hostname": "r1", "ip": "192.0.2.1", "username": "admin", "password": "s3cr3t-Pa55"}
    body = NewJob(
        function_block_id=MISBEHAVE, parameters={"mode": "chatty", "mib": 4000}, context={"devices": [device]}
    ).to_wire()
    job_id = str(httpx.post(f"{url}/_dev/jobs", json=body, timeout=10).json()["jobId"])
    _result(url, job_id, worker)
    worker.wait_for_log(f"Job {job_id} finished")
    lines = [json.loads(line) for line in worker.output if line.startswith("{")]
    printed = [line for line in lines if line["message"].startswith("line ")]
    assert len(printed) == 4000
    assert {line.get("job_id") for line in printed} == {job_id}
    assert all(line["message"].endswith("admin:**********") for line in printed)
    [last] = [line for line in lines if line["message"].startswith("done as")]
    assert (last["message"], last.get("job_id")) == ("done as **********", job_id)
    assert "s3cr3t-Pa55" not in worker.log


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _health(port: int, path: str) -> int:
    return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=3).status_code


def test_an_engine_outage_keeps_the_worker_live_and_the_result_arrives(
    engine: EngineUnderTest, start_worker: Any
) -> None:
    """Longer than three heartbeat intervals of 503s: /livez stays 200, /readyz 503; then one result."""
    url, port = engine.url, _free_port()
    worker = _start(start_worker, url, HEALTH_PORT=str(port))
    held = add_job(url, MISBEHAVE, mode="sleep", seconds=0.5)
    wait_until(lambda: job(url, held)["status"] == "polled", 10, "the job claimed", worker)
    engine.recorder.fault = lambda method, path: (
        None if path.startswith("/_dev") else (503, {"message": "down"})
    )
    wait_until(lambda: f"Result push of job {held} failed" in worker.log, 10, "a failed push", worker)
    time.sleep(3.5)  # more than three heartbeat intervals without an accepted ping
    assert (_health(port, "/livez"), _health(port, "/readyz")) == (200, 503)
    engine.recorder.fault = None
    row = _result(url, held, worker, timeout=40)
    assert (row["resultStatus"], row["claims"]) == ("success", 1)
    assert _health(port, "/livez") == 200
    assert worker.process.poll() is None


def test_an_abandoned_job_really_stops(engine: EngineUnderTest, start_worker: Any, tmp_path: Path) -> None:
    """SHUTDOWN_TIMEOUT cuts the drain short: the job process is killed, its late change never lands."""
    url = engine.url
    worker = _start(start_worker, url, SHUTDOWN_TIMEOUT="1")
    late = tmp_path / "late-change.txt"
    add_job(url, MISBEHAVE, mode="hang", seconds=2, path=str(late))
    wait_until(lambda: late.with_suffix(".pid").exists(), 10, "the job process to start", worker)
    pid = int(late.with_suffix(".pid").read_text())
    worker.signal(signal.SIGTERM)
    assert worker.wait(20) == 1, worker.log
    assert "abandoned: killing its job process" in worker.log
    assert not _alive(pid)
    time.sleep(1.5)  # past the moment the hung block would have written its change
    assert not late.exists()


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")


def test_a_killed_template_is_reaped_and_replaced_by_a_spawned_one(
    engine: EngineUnderTest, start_worker: Any
) -> None:
    """The template forked at start dies; the daemon reaps it and spawns a new one for the next job."""
    url = engine.url
    worker = _start(start_worker, url)
    first_job = _data(_result(url, add_job(url, MISBEHAVE), worker))["pid"]
    template = _parent(first_job)
    assert _parent(template) == worker.process.pid
    assert "neops_worker.worker.jobprocess" not in _cmdline(template)  # forked from the daemon, not spawned
    os.kill(template, signal.SIGKILL)
    worker.wait_for_log("The template process ended")
    wait_until(lambda: _state(template) == "gone", 5, "the killed template to be reaped", worker)
    row = _result(url, add_job(url, MISBEHAVE), worker)
    assert row["resultStatus"] == "success", row
    spawned = _parent(_data(row)["pid"])
    assert spawned != template
    assert "neops_worker.worker.jobprocess" in _cmdline(spawned)
    assert "Starting a new template process" in worker.log
