"""``neops_worker run --reload`` with real processes: a changed block file restarts the worker."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.commands import CommandProcess, clean_environment
from tests.integration.conftest import EngineUnderTest
from tests.integration.support import add_job, job, wait_until, workers

PROBE = "fb.reload.neops/probe:1.0.0"
RELOAD_COMMAND = [str(Path(sys.executable).parent / "neops_worker"), "run", "--reload"]
REGISTERED = "Registered 1 function block(s)"

BLOCK = """
import time

from neops_worker import (
    FunctionBlock,
    FunctionBlockParams,
    FunctionBlockResult,
    FunctionBlockResultData,
    Registration,
    WorkflowContext,
    register_function_block,
)


class ProbeParams(FunctionBlockParams):
    seconds: float = 0


class ProbeResult(FunctionBlockResultData):
    generation: str


@register_function_block(
    Registration(
        name="probe", package="fb.reload.neops", description="Says which version of its code ran",
        run_on="global", fb_type="none", version=(1, 0, 0),
    )
)
class Probe(FunctionBlock[ProbeParams, ProbeResult]):
    def run(self, params: ProbeParams, context: WorkflowContext) -> FunctionBlockResult[ProbeResult]:
        time.sleep(params.seconds)
        data = ProbeResult(generation="GENERATION")
        return FunctionBlockResult(success=True, message="GENERATION", data=data)
"""


def write_block(directory: Path, generation: str, *, keep_mtime: bool = False) -> None:
    """Write the probe block, answering ``generation`` (as if in the same second, with ``keep_mtime``)."""
    path = directory / "probe.py"
    before = path.stat() if keep_mtime else None
    path.write_text(BLOCK.replace("GENERATION", generation))
    if before is not None:
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


@pytest.fixture
def blocks(tmp_path: Path) -> Path:
    """A block directory holding the probe block, first generation."""
    directory = tmp_path / "reload_blocks"
    directory.mkdir()
    write_block(directory, "v1")
    return directory


@pytest.fixture
def reloading(engine: EngineUnderTest, blocks: Path, tmp_path: Path) -> Iterator[CommandProcess]:
    """``neops_worker run --reload`` on ``blocks``, with its first worker registered."""
    env = clean_environment(URL_BLACKBOARD=engine.url, DIR_FUNCTION_BLOCKS=blocks, WORKER_NAME="reloading")
    process = CommandProcess(RELOAD_COMMAND, tmp_path, env)
    try:
        process.wait_for_log(REGISTERED)
        yield process
    finally:
        process.stop()


def finished(url: str, job_id: str, process: CommandProcess) -> dict[str, Any]:
    """Wait for the job's result and return the job."""
    wait_until(lambda: job(url, job_id)["status"] == "pushed", 30, f"result of {job_id}\n{process.log}")
    return job(url, job_id)


def test_a_changed_block_restarts_the_worker_after_the_job_in_hand(
    engine: EngineUnderTest, blocks: Path, reloading: CommandProcess
) -> None:
    """A change during a job: the job finishes on the old code, then a new worker runs the new code.

    The edit keeps the file's size and mtime, as one within the second the worker compiled it does:
    the new worker must not take the old code from the bytecode cache.
    """
    url = engine.url
    slow = add_job(url, PROBE, seconds=1.5)
    wait_until(lambda: job(url, slow)["status"] == "polled", 10, "the slow job claimed")
    write_block(blocks, "v2", keep_mtime=True)
    reloading.wait_for_log("restarting the worker once the job in hand is done")
    assert finished(url, slow, reloading)["resultMessage"] == "v1"
    reloading.wait_for_log(REGISTERED, times=2)
    assert finished(url, add_job(url, PROBE), reloading)["resultMessage"] == "v2"
    states = sorted(worker["state"] for worker in workers(url))
    assert states == ["offline", "online"], reloading.log  # the first worker unregistered
    reloading.process.send_signal(signal.SIGTERM)
    assert reloading.wait() == 0, reloading.log
    assert "Reload: stopped" in reloading.log


def test_a_block_that_breaks_waits_for_the_fix(
    engine: EngineUnderTest, blocks: Path, reloading: CommandProcess
) -> None:
    """A block that no longer imports ends the worker; the next change starts it with the fix."""
    (blocks / "probe.py").write_text("this is not python\n")
    reloading.wait_for_log("the worker exited with code 1; it starts again at the next change")
    write_block(blocks, "v3")
    reloading.wait_for_log(REGISTERED, times=2)
    assert finished(engine.url, add_job(engine.url, PROBE), reloading)["resultMessage"] == "v3"


def test_ctrl_c_drains_the_job_in_hand(engine: EngineUnderTest, reloading: CommandProcess) -> None:
    """A terminal's Ctrl-C (SIGINT to the process group) reaches the worker as one SIGTERM: it drains."""
    url = engine.url
    slow = add_job(url, PROBE, seconds=1.5)
    wait_until(lambda: job(url, slow)["status"] == "polled", 10, "the slow job claimed")
    reloading.signal_group(signal.SIGINT)
    assert reloading.wait() == 0, reloading.log
    assert job(url, slow)["resultStatus"] == "success"
    assert reloading.count("Received SIGTERM. Shutting down...") == 1, reloading.log
    assert "again" not in reloading.log, reloading.log  # no second signal, nothing abandoned


def test_the_worker_stops_with_its_supervisor(engine: EngineUnderTest, reloading: CommandProcess) -> None:
    """A supervisor that is killed outright still gets its worker stopped (SIGTERM): it unregisters."""
    reloading.process.kill()
    reloading.wait()
    wait_until(
        lambda: any(r.path.endswith("/unregister") for r in engine.recorder.matching("POST", "/workers/")),
        5,
        "the orphaned worker's unregister",
    )
    assert [worker["state"] for worker in workers(engine.url)] == ["offline"]
