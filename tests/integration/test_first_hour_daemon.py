"""What a new operator meets in the first hour, through the real ``neops_worker`` command (issue 17).

An engine that cannot be reached is named; one stop request delivered twice (by ``uv run`` and by a
signal to the whole process group) is one stop; a block directory that cannot be read is bad
configuration; and no start-up that fails, at whatever moment, leaves the worker registered.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from neops_worker.devkit.local_engine.process import worker_env
from tests.faults.faultkit import Action, Call, Delay, Plan, free_port
from tests.integration.conftest import EngineUnderTest
from tests.integration.support import (
    EXAMPLES,
    FAST_SETTINGS,
    ROOT,
    WORKER_COMMAND,
    add_job,
    job,
    wait_until,
    workers,
)

SLEEP = "fb.examples.neops/sleep:1.0.0"
UV = shutil.which("uv")


def _run(url: str, cwd: Path, **settings: Any) -> subprocess.CompletedProcess[str]:
    """The worker command to its end, its output (stdout and stderr) in ``stdout``."""
    env = worker_env({"URL_BLACKBOARD": url, "DIR_FUNCTION_BLOCKS": str(EXAMPLES), **settings}, _basic)
    return subprocess.run(
        WORKER_COMMAND,
        check=False,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=60,
    )


def _basic(name: str) -> bool:
    """What a worker child inherits here: lower-case variables and the basic ones."""
    return not name.isupper() or name in {"PATH", "HOME", "LANG", "TMPDIR"}


# --- 1. the engine's URL named when it cannot be reached -------------------------------------


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://enigne.example.invalid:3030", "name not resolved: "),
        (f"http://127.0.0.1:{free_port()}", "connection refused"),
    ],
)
def test_an_engine_that_cannot_be_reached_is_named_in_the_last_line(
    url: str, kind: str, tmp_path: Path
) -> None:
    """A wrong host or a refused port: exit 1, the last line names the URL, the failure and what to check."""
    done = _run(url, tmp_path, STARTUP_RETRY_TIMEOUT="1")
    last = done.stdout.strip().splitlines()[-1]
    assert done.returncode == 1, done.stdout
    assert f"cannot reach the engine at {url} ({kind}" in last
    assert "for 1 s (STARTUP_RETRY_TIMEOUT); is URL_BLACKBOARD right and the engine running?" in last
    assert "Traceback" not in done.stdout


# --- 2. one stop request delivered twice is one stop -----------------------------------------


def _through_uv(url: str, cwd: Path) -> subprocess.Popen[str]:
    """``uv run neops_worker`` in a process group of its own, as a terminal or a supervisor starts it."""
    assert UV is not None
    settings = {"URL_BLACKBOARD": url, "DIR_FUNCTION_BLOCKS": str(EXAMPLES), **FAST_SETTINGS}
    return subprocess.Popen(
        [UV, "run", "--project", str(ROOT), "--no-sync", "neops_worker"],
        cwd=cwd,
        env=worker_env(settings, _basic),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _stop_group_mid_job(url: str, cwd: Path, job_id: str) -> tuple[int | None, str]:
    """Start ``uv run neops_worker``, SIGTERM its process group while it runs ``job_id``; code and output."""
    worker = _through_uv(url, cwd)
    try:
        wait_until(lambda: job(url, job_id)["status"] == "polled", 30, f"job {job_id} claimed")
        time.sleep(0.3)  # well into the job
        os.killpg(worker.pid, signal.SIGTERM)  # uv and the worker both get it; uv forwards it too
        output, _ = worker.communicate(timeout=30)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.communicate(timeout=10)
    return worker.returncode, output


@pytest.mark.skipif(UV is None, reason="uv is not on PATH")
def test_a_sigterm_to_the_process_group_of_uv_run_is_one_stop(
    engine: EngineUnderTest, tmp_path: Path
) -> None:
    """killpg(SIGTERM) reaches uv (which forwards it) and the worker: the job finishes, is pushed, exit 0."""
    job_id = add_job(engine.url, SLEEP, seconds=1.5)
    code, output = _stop_group_mid_job(engine.url, tmp_path, job_id)
    assert code == 0, output
    assert job(engine.url, job_id)["resultStatus"] == "success", output
    # Both deliveries reached the worker, and the second was taken for the first one again.
    assert "SIGTERM again within 1 s: the same stop request, still draining" in output, output
    assert "abandon" not in output, output
    assert "neops_worker: Worker stopped" in output.strip().splitlines()[-1], output


# --- 3. a block directory that cannot be read; no start-up failure leaves a registration ------


def test_a_missing_block_directory_is_bad_configuration_before_any_request(
    engine: EngineUnderTest, tmp_path: Path
) -> None:
    """DIR_FUNCTION_BLOCKS=/nowhere/blocks: exit 2, one error line naming it, the engine never called."""
    done = _run(engine.url, tmp_path, DIR_FUNCTION_BLOCKS=str(tmp_path / "nowhere" / "blocks"))
    errors = [line for line in done.stdout.splitlines() if "ERROR" in line or "error" in line]
    assert done.returncode == 2, done.stdout
    assert len(errors) == 1, done.stdout
    assert f"DIR_FUNCTION_BLOCKS: {tmp_path / 'nowhere' / 'blocks'} does not exist" in errors[0]
    assert engine.recorder.requests == []


#: The requests of the start-up a broken module fails during, in the order the worker sends them: the
#: version check (nothing registered yet), the worker's registration (the engine has registered it, the
#: answer is held), its first heartbeat (it has its id, no block yet) and a block's registration.
MOMENTS = ("version", "register", "ping", "block")
#: How long the engine holds its answer to the request of the moment, after acting on it.
ANSWER_HELD_S = 0.3
#: A module that waits until the engine has the request of the moment, then fails to import.
BROKEN_MODULE = """\
import pathlib, time
arrived, deadline = pathlib.Path({marker!r}), time.monotonic() + 20
while not arrived.exists() and time.monotonic() < deadline:
    time.sleep(0.005)
raise RuntimeError('broken')
"""


def _failing_at(moment: str, marker: Path) -> Plan:
    """Mark the arrival of each request of kind ``moment`` (for the module) and hold its answer."""

    def plan(call: Call) -> Action | None:
        if call.kind != moment:
            return None
        marker.touch()
        return Delay(ANSWER_HELD_S, after_engine=True)

    return plan


@pytest.mark.parametrize("moment", MOMENTS)
def test_no_failed_start_up_leaves_the_worker_registered(
    moment: str, engine: EngineUnderTest, tmp_path: Path
) -> None:
    """A module failing while the engine holds its answer to a start-up request: exit 1, none online."""
    blocks, marker = tmp_path / "blocks", tmp_path / "arrived"
    blocks.mkdir()
    if moment == "block":  # a valid block, imported (and registered) before the broken module
        shutil.copy(EXAMPLES / "examples" / "echo.py", blocks / "a_echo.py")
    (blocks / "broken.py").write_text(BROKEN_MODULE.format(marker=str(marker)))
    engine.recorder.plan = _failing_at(moment, marker)
    done = _run(engine.url, tmp_path, DIR_FUNCTION_BLOCKS=str(blocks), SKIP_BROKEN_MODULES="false")
    assert done.returncode == 1, done.stdout
    # The failure landed at that moment: its request and the earlier ones were sent, no later one, and
    # the worker unregistered if the engine had registered it.
    sent = {exchange.kind for exchange in engine.recorder.requests}
    reached = [kind for kind in MOMENTS if kind in sent]
    assert reached == list(MOMENTS[: MOMENTS.index(moment) + 1]), f"sent {sorted(sent)}:\n{done.stdout}"
    assert ("unregister" in sent) == (moment != "version"), f"sent {sorted(sent)}:\n{done.stdout}"
    online = [w["uuid"] for w in workers(engine.url) if w["state"] == "online"]
    assert online == [], f"a module failing during the {moment} request left {online}:\n{done.stdout}"
