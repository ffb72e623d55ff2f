"""Our daemon with the vendor SDK installed after it (Python >= 3.12): its blocks run, its logs are ours.

The SDK's ``neops_worker`` console script has replaced ours in this environment, so the worker is
started as ``neops-worker``; every test puts this environment's scripts first on PATH, where the
clash is then found and warned about.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import pytest

from neops_worker.sdk import bridge as sdk_bridge
from tests.integration.commands import CommandProcess, clean_environment
from tests.integration.support import add_job, job, wait_until
from tests.sdk_side.conftest import BIN, SDK_BLOCKS

pytest.importorskip("neops_worker_sdk", reason="the vendor SDK is not installed here")

CHECK = "fb.sdkside.neops/connection_check:1.0.0"
OURS = [str(BIN / sdk_bridge.OWN_SCRIPT)]
#: Netmiko connects to port 22, which the block cannot change; it must be closed for the test.
SSH = ("127.0.0.1", 22)


def port_closed(address: tuple[str, int]) -> bool:
    """Whether nothing accepts connections at ``address``."""
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(address) != 0


def environment(**settings: Any) -> dict[str, str]:
    """Settings for our commands, with this environment's scripts (the SDK's among them) first on PATH."""
    return clean_environment(
        DIR_FUNCTION_BLOCKS=SDK_BLOCKS, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", **settings
    )


def json_lines(process: CommandProcess) -> list[dict[str, Any]]:
    """Every stderr line as a JSON object (a line that is not JSON fails the test)."""
    return [json.loads(line) for line in process.stderr]


def run_one_check(engine_url: str, tmp_path: Path, **settings: Any) -> tuple[CommandProcess, dict[str, Any]]:
    """Start our worker, run one connection check against 127.0.0.1:22, drain; the process and job."""
    worker = CommandProcess(
        OURS, tmp_path, environment(URL_BLACKBOARD=engine_url, LOG_FORMAT="json", **settings)
    )
    try:
        job_id = add_job(engine_url, CHECK, ip=SSH[0])
        wait_until(
            lambda: job(engine_url, job_id)["status"] == "pushed", 60, f"the check's result\n{worker.log}"
        )
        worker.process.send_signal(signal.SIGTERM)
        assert worker.wait() == 0, worker.log
    finally:
        worker.stop()
    return worker, job(engine_url, job_id)


@pytest.mark.parametrize("isolation", [{"JOB_ISOLATION": "thread"}, {}], ids=["thread", "default"])
def test_our_daemon_runs_an_sdk_connection_block(
    engine_url: str, tmp_path: Path, isolation: dict[str, str]
) -> None:
    """A block using the SDK's proxy runs; the refused connection is a clear failed result; logs stay ours."""
    if not port_closed(SSH):
        pytest.skip("something listens on 127.0.0.1:22; this test needs a closed port there")
    worker, checked = run_one_check(engine_url, tmp_path, **isolation)
    assert checked["resultStatus"] == "failed", checked
    message = checked["resultMessage"]
    assert message.startswith("ConnectionCreationError: Failed to establish Netmiko connection."), message
    assert "TCP connection to device failed" in message
    assert "127.0.0.1:22" in message
    assert worker.stdout == []  # no loguru sink on stdout
    lines = json_lines(worker)
    loggers = {line["logger"] for line in lines}
    assert "neops_worker_sdk.connection.registry" in loggers  # plugins registered, logged through us
    (connecting,) = [line for line in lines if line["message"] == "Connecting to 127.0.0.1 (frr)"]
    assert connecting["logger"] == "sdk_blocks.connection_check"
    assert connecting["device_ip"] == "127.0.0.1"
    assert connecting["job_id"] == checked["jobId"]


def test_the_sdk_command_on_path_is_warned_about_at_start(engine_url: str, tmp_path: Path) -> None:
    """``neops-worker`` starts our daemon, which warns (a JSON line) that ``neops_worker`` is the SDK's."""
    worker = CommandProcess(OURS, tmp_path, environment(URL_BLACKBOARD=engine_url, LOG_FORMAT="json"))
    try:
        worker.wait_for_log("Registered 1 function block(s)")
        worker.process.send_signal(signal.SIGTERM)
        assert worker.wait() == 0, worker.log
    finally:
        worker.stop()
    warnings = [line for line in json_lines(worker) if line["level"] == "WARNING"]
    assert any(f"'neops_worker' on PATH ({BIN / 'neops_worker'})" in line["message"] for line in warnings)
    assert sdk_bridge.sdk_script_on_path(str(BIN)) == BIN / "neops_worker"


@pytest.mark.parametrize("command", ["blocks", "check"])
def test_json_output_is_alone_on_stdout(tmp_path: Path, command: str) -> None:
    """``blocks --json`` and ``check --json`` print only their JSON on stdout; ``check`` warns on stderr."""
    process = CommandProcess([*OURS, command, "--json"], tmp_path, environment())
    assert process.wait() == 0, process.log
    body = json.loads("\n".join(process.stdout))
    found = [block["id"] for block in body] if command == "blocks" else body["blocks"]
    assert found == [CHECK]
    assert ("starts the vendor SDK's worker" in process.log) == (command == "check")


def test_python_m_starts_this_worker(tmp_path: Path) -> None:
    """``python -m neops_worker`` is ours even where the ``neops_worker`` script is the SDK's."""
    for argv in ([sys.executable, "-m", "neops_worker", "--version"], [*OURS, "--version"]):
        process = CommandProcess(argv, tmp_path, environment())
        assert process.wait() == 0, process.log
        assert process.stdout[0].startswith("neops_worker 1."), process.stdout
