"""The remote lab in block tests, against the real lab server (``neops_remote_lab``) on 127.0.0.1.

The server runs as an operator starts it (``python -m neops_remote_lab``); only netlab is replaced:
a fake ``netlab`` first on the server's PATH answers ``up``, ``inspect`` and ``down`` with two
canned FRR routers (``fake_netlab.py``). The newer-SDK-style repository (``tests/sdk_newer/repo``)
is ported and its own ``pytest`` runs the test its ``@fb_test_case_with_lab`` block adds, through
the lab package's real fixture and client; the testing kit maps the real client's nodes.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from function_blocks.examples.device_release import SetSoftwareRelease
from neops_worker.testing import run_block
from neops_worker.testing_lab import lab_devices
from tests.integration.commands import CommandProcess, clean_environment
from tests.sdk_newer.repository import REPO, copy_repo, ported, run_pytest
from tests.sdk_side import fake_netlab

pytest.importorskip(
    "neops_remote_lab", reason="the remote lab package (Python >= 3.12) is not installed here"
)
pytest.importorskip("neops_worker_sdk", reason="the vendor SDK is not installed here")

TOPOLOGY = REPO / "topologies" / "two_routers.yml"


@dataclass
class LabServer:
    """A running lab server: its URL, and where its fake netlab records its calls."""

    url: str
    netlab: Path
    process: CommandProcess


def free_port() -> int:
    """A loopback port free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def healthy(url: str) -> bool:
    """Whether the lab server answers its liveness probe."""
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 204
    except httpx.TransportError:
        return False


@pytest.fixture
def lab_server(tmp_path: Path) -> Iterator[LabServer]:
    """The real lab server on a free loopback port, with the fake netlab first on its PATH."""
    state = tmp_path / "netlab-state"
    fake_netlab.install(tmp_path / "netlab-bin", state)
    scratch = tmp_path / "lab-tmp"  # its single-instance lock and lab directories, apart from others'
    scratch.mkdir()
    url = f"http://127.0.0.1:{free_port()}"
    env = clean_environment(PATH=f"{tmp_path / 'netlab-bin'}{os.pathsep}{os.environ['PATH']}", TMPDIR=scratch)
    argv = [sys.executable, "-m", "neops_remote_lab", "--host", "127.0.0.1", "--port", url.rpartition(":")[2]]
    server = CommandProcess(argv, tmp_path, env)
    try:
        deadline = time.monotonic() + 30
        while not healthy(url) and server.process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert healthy(url), f"the lab server did not come up at {url}:\n{server.log}"
        yield LabServer(url, state, server)
    finally:
        server.stop()


def test_the_generated_lab_test_passes_on_the_lab_server(lab_server: LabServer, tmp_path: Path) -> None:
    """With REMOTE_LAB_URL, the lab test runs on the lab's first router; the lab is torn down after."""
    repo = ported(copy_repo(tmp_path / "acme_newer"))
    result = run_pytest(repo, REMOTE_LAB_URL=lab_server.url)
    assert result.returncode == 0, result.stdout + result.stderr + lab_server.process.log
    assert "3 passed" in result.stdout, result.stdout
    calls = fake_netlab.calls(lab_server.netlab)
    assert ["up", "two_routers.yml"] in calls
    for node in ("r1", "r2"):
        assert ["inspect", "-q", "--instance", "default", "--node", node, "--format", "yaml"] in calls
    assert calls[-1] == ["down", "--cleanup"]


def test_without_a_lab_url_the_lab_test_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lab's own fixture would fail the test as an ERROR; the generated test is SKIPPED, saying why."""
    monkeypatch.delenv("REMOTE_LAB_URL", raising=False)
    repo = ported(copy_repo(tmp_path / "acme_newer"))
    result = run_pytest(repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed, 1 skipped" in result.stdout, result.stdout
    assert "blocks/acme_newer/lab_inventory.py:" in result.stdout
    assert "no remote lab configured: set REMOTE_LAB_URL to the lab server's URL" in result.stdout


def test_the_kit_runs_a_block_on_the_real_clients_nodes(lab_server: LabServer) -> None:
    """The lab client's nodes (DeviceInfoDto) become devices that run_block runs a block on."""
    from neops_remote_lab.client import RemoteLabClient  # type: ignore[import-not-found]

    client = RemoteLabClient(base_url=lab_server.url)
    try:
        devices = lab_devices(client.acquire(TOPOLOGY, reuse=False))
        client.release()
    finally:
        client.close()
    assert [(d.id, d.ip, d.hostname, d.username, d.vendor) for d in devices] == [
        (1, "192.0.2.11", "192.0.2.11", "admin", "frr"),
        (2, "192.0.2.12", "192.0.2.12", "admin", "frr"),
    ]
    run = run_block(SetSoftwareRelease, {"software_release": "10.2"}, {"devices": devices}, entity_id=1)
    assert run.success, run.message
    assert run.db_updates[0]["id"] == 1


#: Each test a decorator added to the repository's block modules: its marks and its arguments.
DUMP_TESTS = """
import importlib, inspect, json
found = {}
for name in ("device_summary", "lab_inventory"):
    module = importlib.import_module("blocks.acme_newer." + name)
    for attr, test in vars(module).items():
        if attr.startswith("test_"):
            marks = sorted(m.name for m in test.pytestmark if m.name not in ("asyncio", "skipif"))
            found[attr] = [marks, list(inspect.signature(test).parameters)]
print(json.dumps(found, sort_keys=True))
"""


def generated_tests(repo: Path) -> dict[str, list[list[str]]]:
    """The tests the repository's decorators add, imported in ``repo`` (SDK or ported)."""
    run = subprocess.run(
        [sys.executable, "-c", DUMP_TESTS], cwd=repo, capture_output=True, text=True, check=True, timeout=120
    )
    # The SDK's loguru logs to stdout too: the dump is the last line.
    found: dict[str, list[list[str]]] = json.loads(run.stdout.splitlines()[-1])
    return found


def test_the_tests_are_named_marked_and_take_fixtures_as_the_sdks(tmp_path: Path) -> None:
    """The SDK 0.2.0b7 and the ported repository add the same tests, marks (but asyncio) and arguments."""
    sdk = generated_tests(copy_repo(tmp_path / "sdk"))
    ours = generated_tests(ported(copy_repo(tmp_path / "ours")))
    assert ours == sdk
    assert sdk["test_labinventory_inventory_of_a_lab_router"] == [
        ["function_block", "remote_lab"],
        ["two_routers"],
    ]
    assert sdk["test_devicesummary_summarises_core_rtr_01"] == [["function_block"], []]
