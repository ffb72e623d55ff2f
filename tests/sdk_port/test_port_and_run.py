"""An SDK-style repository ported by ``neops_worker port --write``: its tests pass, the daemon runs it.

The repository (``repo/``) is written as the vendor SDK documents blocks and their tests. A copy
is ported, then its tests run in a pytest subprocess of their own, and the real worker (the
console script, in both isolation modes) runs its blocks against the local engine.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from neops_worker.devkit.local_engine.models import NewJob
from tests.devtools.blockdirs import invoke
from tests.integration.support import Recorder, WorkerProcess, job, wait_until

#: Runs the repository's ``async def`` tests as ``asyncio_mode = "auto"`` does, without pytest-asyncio
#: (which this project does not install): anyio's pytest plugin runs them on asyncio.
ASYNC_TESTS_CONFTEST = '''"""Async tests run on asyncio without a marker, as with asyncio_mode = "auto"."""

import inspect

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector, name, obj):
    """Every async def test runs under anyio's plugin, on asyncio."""
    if name.startswith("test") and inspect.iscoroutinefunction(obj):
        pytest.mark.anyio(obj)


@pytest.fixture
def anyio_backend():
    """The event loop of the async tests."""
    return "asyncio"
'''

HELLO = "fb.acme.examples/hello_world:1.0.0"
REPORT = "fb.acme.examples/interface_report:1.2.0"
CONNECTION = "fb.acme.examples/connection_test:1.0.0"
LAB = "fb.acme.examples/lab_site:1.0.0"

ROUTER = {"id": 42, "hostname": "core-rtr-01", "ip": "10.0.0.1", "facts": {"site": "zrh"}}
INTERFACES = [
    {"id": 7, "name": "Gi0/1", "state": "UP", "device": {"id": 42}},
    {"id": 8, "name": "Gi0/2", "state": "DOWN", "device": {"id": 42}},
]


def ported(repo: Path) -> Path:
    """``repo`` after ``neops_worker port --write``, which must leave nothing to do by hand."""
    result = invoke("port", "--write", str(repo))
    assert result.exit_code == 0, result.output
    assert "0 thing(s) to port by hand" in result.stderr
    return repo


def test_port_rewrites_every_sdk_import_and_keeps_the_rest(sdk_repo: Path) -> None:
    """After --write no file imports the SDK or the engine client; only import lines changed."""
    before = {path: path.read_text() for path in sdk_repo.rglob("*.py")}
    ported(sdk_repo)
    for path, old in before.items():
        new = path.read_text()
        assert "neops_worker_sdk" not in new
        assert "neops_workflow_engine_client" not in new
        changed = [line for line in new.splitlines() if line not in old.splitlines()]
        assert all("neops_worker.sdk" in line for line in changed), (path, changed)
        assert len(new.splitlines()) == len(old.splitlines())


def test_ported_repository_passes_its_own_tests(sdk_repo: Path) -> None:
    """The repository's SDK-style async tests pass against the ported blocks, in a pytest of their own."""
    repo = ported(sdk_repo)
    (repo / "conftest.py").write_text(ASYNC_TESTS_CONFTEST)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-W",
            "ignore::pytest.PytestConfigWarning",
        ],
        cwd=repo,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "11 passed" in run.stdout, run.stdout


def test_ported_blocks_type_check_strictly(sdk_repo: Path) -> None:
    """mypy --strict accepts the ported blocks as they are: the SDK's types are all there."""
    repo = ported(sdk_repo)
    for path in (repo / "blocks").rglob("*.py"):
        # The fixture's files are kept out of this project's own type check; the ported copy is not.
        path.write_text(path.read_text().replace("# mypy: ignore-errors\n", ""))
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(repo / ".mypy_cache"), "blocks"],
        cwd=repo,
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr


# --- the daemon -------------------------------------------------------------------------------


def closed_port() -> int:
    """A loopback port nothing listens on (it was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def submit(url: str, fb_id: str, job_type: str = "execute", **fields: Any) -> str:
    """Queue one job (parameters, context, run_on, entity_id as given); returns its id."""
    body = NewJob(function_block_id=fb_id, type=job_type, **fields).to_wire()
    response = httpx.post(f"{url}/_dev/jobs", json=body, timeout=10)
    response.raise_for_status()
    return str(response.json()["jobId"])


@pytest.fixture(params=["process", "thread"])
def worker_on_ported_repo(
    sdk_repo: Path, recorded_engine: tuple[str, Recorder], tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[WorkerProcess]:
    """The real worker on the ported repository's blocks, jobs run in job processes or threads."""
    url, _ = recorded_engine
    blocks = ported(sdk_repo) / "blocks"
    worker = WorkerProcess(url, tmp_path, DIR_FUNCTION_BLOCKS=str(blocks), JOB_ISOLATION=request.param)
    yield worker
    worker.stop()


def pushed(url: str, job_id: str) -> bool:
    """Whether the job's result has reached the engine."""
    return bool(job(url, job_id)["status"] == "pushed")


def results(url: str, job_ids: dict[str, str], worker: WorkerProcess) -> dict[str, dict[str, Any]]:
    """The stored result body of each job, once every one has been pushed."""
    for job_id in job_ids.values():
        wait_until(partial(pushed, url, job_id), 30, f"the result of job {job_id}", worker)
    return {name: job(url, job_id)["result"] for name, job_id in job_ids.items()}


def submit_sdk_jobs(url: str, closed: int) -> dict[str, str]:
    """One job of each kind the SDK documents for the repository's blocks, by name."""
    device_job: dict[str, Any] = {"run_on": "device", "entity_id": 42}
    lab = {"devices": [{"id": 3, "hostname": "lab-1", "ip": "127.0.0.1"}]}
    return {
        "hello": submit(url, HELLO, parameters={"name": "neops"}),
        "hello_acquire": submit(url, HELLO, "acquire", parameters={"name": "neops"}),
        "report_acquire": submit(url, REPORT, "acquire", parameters={}),
        "report": submit(
            url,
            REPORT,
            parameters={"name_prefix": "Gi"},
            context={"devices": [ROUTER], "interfaces": INTERFACES},
            **device_job,
        ),
        "closed": submit(
            url,
            CONNECTION,
            parameters={"port": closed, "timeout_s": 1},
            context=lab,
            run_on="device",
            entity_id=3,
        ),
        "no_device": submit(url, CONNECTION, parameters={}),
    }


def test_the_daemon_runs_the_ported_blocks_with_the_sdk_results(
    recorded_engine: tuple[str, Recorder], worker_on_ported_repo: WorkerProcess
) -> None:
    """Acquires, results and dbUpdates of the ported blocks are those the SDK documents."""
    url, recorder = recorded_engine
    closed = closed_port()
    found = results(url, submit_sdk_jobs(url, closed), worker_on_ported_repo)
    hello = {"success": True, "message": "Hello, neops!", "data": {"text": "Hello, neops!"}}
    assert found["hello"]["result"] == hello
    assert found["hello_acquire"]["result"] == {"success": True, "message": "Nothing to acquire"}
    assert "acquires" not in found["hello_acquire"]
    assert found["report_acquire"]["acquires"] == [
        {"type": "context", "assertNotEmpty": True, "entity": "device", "filter": "[0]"},
        {"type": "elastic", "assertNotEmpty": False, "entity": "interface", "query": "*", "limit": 100},
    ]
    assert_report_updates(found["report"]["result"])
    assert found["closed"]["status"] == "failed"
    assert found["closed"]["result"]["message"].startswith(f"127.0.0.1:{closed} is not reachable: ")
    assert found["closed"]["result"]["data"] == {"reachable": False, "latency_ms": None}
    assert "dbUpdates" not in found["closed"]["result"]
    assert found["no_device"]["result"] == {"success": False, "message": "No device found"}
    greeting = registered_schema(recorder, "hello_world")["properties"]["greeting"]
    assert "default" not in greeting
    worker_on_ported_repo.signal(signal.SIGTERM)
    assert worker_on_ported_repo.wait(30) == 0, worker_on_ported_repo.log


def assert_report_updates(result: dict[str, Any]) -> None:
    """The facts patch of device 42 and the loopback's create, with the wrapper's creation options."""
    assert result["success"] is True, result
    assert result["data"] == {
        "hostname": "core-rtr-01",
        "up": ["Gi0/1"],
        "down": ["Gi0/2"],
        "created": ["Loopback0"],
    }
    updates = result["dbUpdates"]["updates"]
    (create,) = [u for u in updates if u["operation"] == "create"]
    assert create["entity"] == "interface"
    assert create["identifierFields"] == ["name"]
    assert create["skipIfIdentifierExists"] is True
    assert create["data"]["name"] == "Loopback0"
    assert create["data"]["device"] == {"hostname": "core-rtr-01"}
    assert create["data"]["id"] == create["id"] >= 10_000_000
    assert "skip_if_identifier_exists" not in create["data"]
    assert "identifier_fields" not in create["data"]
    patch = {"facts": {"site": "zrh", "interfaces_up": 1, "interfaces_down": 1}}
    assert [(u["entity"], u["id"], u["path"], u["value"]) for u in updates if u["operation"] == "patch"] == [
        ("device", 42, "facts", patch["facts"])
    ]


def registered_schema(recorder: Recorder, name: str) -> dict[str, Any]:
    """The parameter schema the worker registered for the block ``name``."""
    for request in recorder.matching("POST", "/function-blocks/register"):
        body = request.json()
        if body["name"] == name:
            schema: dict[str, Any] = body["parameterJsonSchema"]
            return schema
    raise AssertionError(f"{name} was never registered")


def test_the_daemon_runs_creation_wrappers_and_rollback(
    recorded_engine: tuple[str, Recorder], worker_on_ported_repo: WorkerProcess
) -> None:
    """lab_site creates a device and a group with their options, patches its group, and rolls back."""
    url, _ = recorded_engine
    group = {"deviceGroups": [{"id": 5, "name": "zrh", "description": "Zurich"}]}
    target: dict[str, Any] = {"context": group, "run_on": "group", "entity_id": 5}
    params = {"hostname": "lab-rtr-01", "ip": "192.0.2.1", "previous_description": "Zurich"}
    found = results(
        url,
        {
            "execute": submit(url, LAB, parameters=params, **target),
            "rollback": submit(url, LAB, "rollback", parameters=params, **target),
        },
        worker_on_ported_repo,
    )
    updates = found["execute"]["result"]["dbUpdates"]["updates"]
    creates = {u["entity"]: u for u in updates if u["operation"] == "create"}
    assert creates["device"]["identifierFields"] == ["hostname", "ip"]
    assert creates["device"]["skipIfIdentifierExists"] is True
    assert creates["device"]["data"]["hostname"] == "lab-rtr-01"
    assert "identifierFields" not in creates["group"]
    assert creates["group"]["skipIfIdentifierExists"] is False
    assert creates["group"]["data"]["name"] == "zrh-lab"
    assert found["execute"]["result"]["data"] == {
        "device_id": creates["device"]["id"],
        "group_id": creates["group"]["id"],
    }
    assert {
        "operation": "patch",
        "entity": "group",
        "id": 5,
        "path": "description",
        "value": "Lab router lab-rtr-01",
    } in updates
    assert found["rollback"]["result"] == {"success": True, "message": "Description restored"}
