"""The real daemon gives blocks that declare it the job meta, in both isolation modes; bad signatures stop it.

Blocks are written as the vendor SDK's later releases show them (``run(self, params, context, meta)``),
natively and SDK-style (already ported), next to one that declares no meta.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from neops_worker.settings import delivery_reserve
from tests.integration.conftest import EngineUnderTest
from tests.integration.support import WorkerProcess, job, wait_until, workers

SEEN = '''"""What a block sees of its job meta, as result data."""

import dataclasses

from neops_worker import FunctionBlockResultData, JobMeta


class Seen(FunctionBlockResultData):
    job_id: str
    function_block_id: str
    job_type: str
    step_label: str | None
    run_on: str
    entity_id: int | None
    worker_id: str | None
    worker_name: str | None
    deadline: float | None
    remaining: float | None


def seen(meta: JobMeta) -> Seen:
    return Seen(**dataclasses.asdict(meta), remaining=meta.remaining())


def said(meta: JobMeta) -> str:
    return f"{meta.job_type} {meta.job_id} by {meta.worker_id}/{meta.worker_name}"
'''

NATIVE = '''"""A native block declaring the job meta in run, acquire and rollback."""

from neops_worker import (
    FunctionBlock,
    FunctionBlockAcquireResult,
    FunctionBlockParams,
    FunctionBlockResult,
    FunctionBlockRollbackResult,
    JobMeta,
    Registration,
    WorkflowContext,
    register_function_block,
)
from meta_blocks.seen import Seen, said, seen


@register_function_block(Registration(name="native", package="itest.meta", description="Says its meta"))
class Native(FunctionBlock[FunctionBlockParams, Seen]):
    async def run(self, params: FunctionBlockParams, context: WorkflowContext, meta: JobMeta):
        return FunctionBlockResult(success=True, data=seen(meta))

    def acquire(self, params: FunctionBlockParams, meta: JobMeta) -> FunctionBlockAcquireResult:
        return FunctionBlockAcquireResult(message=said(meta))

    def rollback(self, params: FunctionBlockParams, context: WorkflowContext, meta: JobMeta):
        return FunctionBlockRollbackResult(success=True, message=said(meta))
'''

SDK_STYLE = '''"""An SDK-style block (its imports ported) whose run takes the job meta."""

from neops_worker.sdk.function_block.function_block import (
    FunctionBlock,
    FunctionBlockAcquireResult,
    FunctionBlockParams,
    FunctionBlockResult,
    JobMeta,
)
from neops_worker.sdk.registry.decorator import register_function_block
from neops_worker.sdk.registry.registration import Registration
from neops_worker.sdk.workflow import WorkflowContext
from meta_blocks.seen import Seen, seen


@register_function_block(Registration(name="sdk", package="itest.meta", description="Says its meta"))
class SdkStyle(FunctionBlock[FunctionBlockParams, Seen]):
    async def run(self, params: FunctionBlockParams, context: WorkflowContext, meta: JobMeta):
        assert isinstance(context, WorkflowContext)
        return FunctionBlockResult(success=True, data=seen(meta))

    async def acquire(self, params):
        return FunctionBlockAcquireResult()
'''

PLAIN = '''"""A block that declares no meta: called as it always was."""

from neops_worker import FunctionBlock, FunctionBlockParams, FunctionBlockResult, FunctionBlockResultData
from neops_worker import Registration, WorkflowContext, register_function_block


@register_function_block(Registration(name="plain", package="itest.meta", description="No meta"))
class Plain(FunctionBlock[FunctionBlockParams, FunctionBlockResultData]):
    def run(self, params: FunctionBlockParams, context: WorkflowContext):
        return FunctionBlockResult(success=True, message="plain")
'''

NEEDY = PLAIN.replace('name="plain"', 'name="needy"').replace(
    "context: WorkflowContext)", "context: WorkflowContext, meta, extra)"
)
DEVICE = {"devices": [{"id": 7, "hostname": "r1"}], "deviceGroups": [], "interfaces": []}
#: The stuck-job budget an ENGINE_STUCK_JOB_TIMEOUT of 120 s leaves a job.
BUDGET = 120 - delivery_reserve(120)


def meta_blocks(tmp_path: Path, **more: str) -> Path:
    """The block directory ``meta_blocks``: the native, SDK-style and plain blocks, and ``more``."""
    root = tmp_path / "meta_blocks"
    root.mkdir()
    files = {"seen.py": SEEN, "native.py": NATIVE, "sdk_style.py": SDK_STYLE, "plain.py": PLAIN, **more}
    for name, source in files.items():
        (root / name).write_text(source)
    return root


def add(url: str, name: str, job_type: str = "execute", **fields: Any) -> str:
    """Queue a job of ``itest.meta/NAME`` with any NewJob fields; its id."""
    body = {"functionBlockId": f"itest.meta/{name}:1.0.0", "type": job_type, **fields}
    response = httpx.post(f"{url}/_dev/jobs", json=body, timeout=10)
    response.raise_for_status()
    return str(response.json()["jobId"])


def result(url: str, job_id: str, worker: WorkerProcess) -> dict[str, Any]:
    """The pushed result of ``job_id`` (waited for), which must be a success."""
    wait_until(lambda: job(url, job_id)["status"] == "pushed", 20, f"the result of {job_id}", worker)
    body: dict[str, Any] = job(url, job_id)["result"]["result"]
    assert body["success"], body
    return body


def on_device(url: str, name: str, worker: WorkerProcess) -> tuple[str, dict[str, Any]]:
    """Run ``name`` on device 7 at step ``probe``: the job's id and its result data."""
    job_id = add(url, name, stepLabel="probe", runOn="device", entityId=7, context=DEVICE)
    return job_id, result(url, job_id, worker)["data"]


def assert_deadline(deadline: float | None, remaining: float | None, limit: float | None) -> None:
    """No deadline without a limit; with one, a deadline and at most ``limit`` seconds left."""
    if limit is None:
        assert (deadline, remaining) == (None, None)
    else:
        assert isinstance(deadline, float)
        assert remaining is not None
        assert 0 < remaining <= limit


@pytest.mark.parametrize(
    ("isolation", "settings", "limit"),
    [
        ("thread", {"JOB_TIMEOUT": "30"}, 30.0),
        ("process", {"JOB_TIMEOUT": "30"}, 30.0),
        ("process", {"ENGINE_STUCK_JOB_TIMEOUT": "120"}, BUDGET),
        ("thread", {"ENGINE_STUCK_JOB_TIMEOUT": "0"}, None),
    ],
)
def test_blocks_that_declare_it_get_the_job_meta(
    engine: EngineUnderTest,
    start_worker: Any,
    tmp_path: Path,
    isolation: str,
    settings: dict[str, str],
    limit: float | None,
) -> None:
    """Native and SDK-style: the job's fields, the registered worker, the deadline; a plain block as ever."""
    url = engine.url
    worker = start_worker(
        url,
        DIR_FUNCTION_BLOCKS=str(meta_blocks(tmp_path)),
        JOB_ISOLATION=isolation,
        WORKER_NAME="meta-w",
        **settings,
    )
    worker.wait_for_log("Registered 3 function block(s)")
    (registered,) = workers(url)
    for name in ("native", "sdk"):
        job_id, data = on_device(url, name, worker)
        assert_deadline(data.pop("deadline"), data.pop("remaining"), limit)
        assert data == {
            "job_id": job_id,
            "function_block_id": f"itest.meta/{name}:1.0.0",
            "job_type": "execute",
            "step_label": "probe",
            "run_on": "device",
            "entity_id": 7,
            "worker_id": registered["uuid"],
            "worker_name": "meta-w",
        }
    assert result(url, add(url, "plain"), worker)["message"] == "plain"
    worker.signal(signal.SIGTERM)
    assert worker.wait(30) == 0, worker.log


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_acquire_and_rollback_get_it_too(
    engine: EngineUnderTest, start_worker: Any, tmp_path: Path, isolation: str
) -> None:
    """``acquire(self, params, meta)`` and ``rollback(self, params, context, meta)`` get the job meta."""
    url = engine.url
    worker = start_worker(url, DIR_FUNCTION_BLOCKS=str(meta_blocks(tmp_path)), JOB_ISOLATION=isolation)
    worker.wait_for_log("Registered 3 function block(s)")
    (registered,) = workers(url)
    for job_type in ("acquire", "rollback"):
        job_id = add(url, "native", job_type)
        assert result(url, job_id, worker)["message"] == f"{job_type} {job_id} by {registered['uuid']}/None"
    worker.signal(signal.SIGTERM)
    assert worker.wait(30) == 0, worker.log


def test_a_job_process_learns_the_id_of_a_worker_registered_again(
    engine: EngineUnderTest, start_worker: Any, tmp_path: Path
) -> None:
    """After a 404 ping and a new registration, the next job's meta (same job process) has the new id."""
    url = engine.url
    worker = start_worker(url, DIR_FUNCTION_BLOCKS=str(meta_blocks(tmp_path)), JOB_ISOLATION="process")
    worker.wait_for_log("Registered 3 function block(s)")
    first = on_device(url, "native", worker)[1]["worker_id"]
    expired = {"done": False}

    def expire_once(method: str, path: str) -> tuple[int, Any] | None:
        if path.endswith("/ping") and not expired["done"]:
            expired["done"] = True
            return 404, {"statusCode": 404, "message": "Worker not found"}
        return None

    engine.recorder.fault = expire_once
    wait_until(
        lambda: len(engine.recorder.matching("POST", "/workers/register")) == 2, 20, "re-registration", worker
    )
    job_id, data = on_device(url, "native", worker)
    assert data["worker_id"] != first
    assert data["worker_id"] == job(url, job_id)["workerId"]
    worker.signal(signal.SIGTERM)
    assert worker.wait(30) == 0, worker.log


def test_a_run_the_worker_cannot_call_stops_the_start_with_file_and_line(
    engine: EngineUnderTest, start_worker: Any, tmp_path: Path
) -> None:
    """Start-up: exit 1, the last line names the def's file and line; no job of it ever fails."""
    root = meta_blocks(tmp_path, **{"needy.py": NEEDY})
    worker = start_worker(engine.url, DIR_FUNCTION_BLOCKS=str(root))
    assert worker.wait(60) == 1, worker.log
    line = next(n for n, text in enumerate(NEEDY.splitlines(), start=1) if "def run(" in text)
    where = f"{root / 'needy.py'}:{line}"
    assert (
        f"{where}: invalid function block meta_blocks.needy.Plain (itest.meta/needy:1.0.0): "
        in worker.output[-1]
    )
    assert (
        "run(self, params, context, meta, extra) needs 'extra', which the worker never passes"
        in worker.output[-1]
    )


def test_skipped_as_a_broken_module_the_others_are_served(
    engine: EngineUnderTest, start_worker: Any, tmp_path: Path
) -> None:
    """With SKIP_BROKEN_MODULES the worker starts, warns with file and line, and serves the other blocks."""
    root = meta_blocks(tmp_path, **{"needy.py": NEEDY})
    worker = start_worker(
        engine.url, DIR_FUNCTION_BLOCKS=str(root), SKIP_BROKEN_MODULES="true", JOB_ISOLATION="thread"
    )
    worker.wait_for_log("Registered 3 function block(s)")
    assert f"Function block module problem: {root / 'needy.py'}:" in worker.log
    assert "needs 'extra', which the worker never passes" in worker.log
    assert result(engine.url, add(engine.url, "plain"), worker)["message"] == "plain"
    worker.signal(signal.SIGTERM)
    assert worker.wait(30) == 0, worker.log
