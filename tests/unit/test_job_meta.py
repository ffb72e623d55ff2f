"""The job meta: built per job only for blocks that declare it, read-only, and the same in the SDK layer."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import pytest

from neops_worker import (
    FunctionBlock,
    FunctionBlockAcquireResult,
    FunctionBlockParams,
    FunctionBlockResult,
    FunctionBlockResultData,
    FunctionBlockRollbackResult,
    JobMeta,
    Registration,
    WorkflowContext,
    register_function_block,
)
from neops_worker.discovery import DiscoveredBlock
from neops_worker.engine.wire import JobDefinition
from neops_worker.sdk.function_block.function_block import FunctionBlock as SdkBlock
from neops_worker.sdk.registry.decorator import register_function_block as sdk_register
from neops_worker.sdk.registry.registration import Registration as SdkRegistration
from neops_worker.sdk.workflow import WorkflowContext as SdkContext
from neops_worker.worker.execution import execute_job

FIELDS = (
    "job_id, function_block_id, job_type, step_label, run_on, entity_id, worker_id, worker_name, "
    "deadline, remaining()"
)


class Seen(FunctionBlockResultData):
    """The job meta a block received, and the kind of context beside it."""

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
    context: str = ""


def seen(meta: JobMeta, context: object = None) -> Seen:
    """What ``meta`` says, as result data."""
    return Seen(**dataclasses.asdict(meta), remaining=meta.remaining(), context=type(context).__module__)


def said(meta: JobMeta) -> str:
    """The job meta in a result message (acquire and rollback results carry no data)."""
    return f"{meta.job_type} {meta.job_id} by {meta.worker_id}/{meta.worker_name}"


@register_function_block(Registration(name="meta", package="tests.meta", description="sees the meta"))
class Native(FunctionBlock[FunctionBlockParams, Seen]):
    """Declares the job meta in all three entry points, as the SDK's later releases write it."""

    async def run(
        self, params: FunctionBlockParams, context: WorkflowContext, meta: JobMeta
    ) -> FunctionBlockResult[Seen]:
        """Return the meta."""
        return FunctionBlockResult(success=True, data=seen(meta, context))

    def acquire(self, params: FunctionBlockParams, meta: JobMeta) -> FunctionBlockAcquireResult:
        """Say the meta."""
        return FunctionBlockAcquireResult(message=said(meta))

    def rollback(
        self, params: FunctionBlockParams, context: WorkflowContext, meta: JobMeta
    ) -> FunctionBlockRollbackResult:
        """Say the meta."""
        return FunctionBlockRollbackResult(success=True, message=said(meta))


@register_function_block(Registration(name="keyword", package="tests.meta", description="meta by keyword"))
class Keyword(FunctionBlock[FunctionBlockParams, Seen]):
    """Takes the meta as a keyword-only parameter, and ``result_from_failed`` in rollback."""

    def run(
        self, params: FunctionBlockParams, context: WorkflowContext, *, meta: JobMeta
    ) -> FunctionBlockResult[Seen]:
        """Return the meta."""
        return FunctionBlockResult(success=True, data=seen(meta, context))

    def rollback(
        self,
        params: FunctionBlockParams,
        context: WorkflowContext,
        result_from_failed: object = None,
        meta: Any = None,
    ) -> FunctionBlockRollbackResult:
        """Say the meta, after a ``result_from_failed`` that is None."""
        return FunctionBlockRollbackResult(success=result_from_failed is None, message=said(meta))


@register_function_block(Registration(name="plain", package="tests.meta", description="no meta"))
class Plain(FunctionBlock[FunctionBlockParams, FunctionBlockResultData]):
    """Declares no meta: called exactly as before (a third argument would be a TypeError)."""

    def run(
        self, params: FunctionBlockParams, context: WorkflowContext
    ) -> FunctionBlockResult[FunctionBlockResultData]:
        """Succeed."""
        return FunctionBlockResult(success=True, message="plain")

    def rollback(self, params: FunctionBlockParams, context: WorkflowContext) -> FunctionBlockRollbackResult:
        """A rollback without ``result_from_failed``: called with what it declares."""
        return FunctionBlockRollbackResult(success=True, message="undone")


@sdk_register(SdkRegistration(name="sdk_meta", package="tests.meta", description="an SDK-style block"))
class Sdk(SdkBlock[FunctionBlockParams, Seen]):
    """An SDK-style block whose ``run`` takes the meta: its context is still the SDK's view."""

    async def run(
        self, params: FunctionBlockParams, context: SdkContext, meta: JobMeta
    ) -> FunctionBlockResult[Seen]:
        """Return the meta and the context's kind."""
        return FunctionBlockResult(success=True, data=seen(meta, context))

    async def acquire(self, params: Any, meta: JobMeta) -> FunctionBlockAcquireResult:
        """Say the meta, and that the parameters are the SDK's AcquireParams."""
        return FunctionBlockAcquireResult(message=f"{said(meta)} {type(params).__name__}")


CLASSES: tuple[type[Any], ...] = (Native, Keyword, Plain, Sdk)
BLOCKS = {
    cls.registration.fb_id: DiscoveredBlock(cls, cls.registration, __name__, Path(__file__))
    for cls in CLASSES
}


def _job(name: str, job_type: str = "execute", **extra: Any) -> JobDefinition:
    return JobDefinition.model_validate(
        {"functionBlockId": f"tests.meta/{name}:1.0.0", "jobId": f"job-{name}", "type": job_type, **extra}
    )


async def _data(job: JobDefinition, **options: Any) -> dict[str, Any]:
    outcome = await execute_job(job, BLOCKS.get, **options)
    assert outcome.outcome == "success", outcome.result
    data = outcome.result.result.data
    assert data is not None
    return data


def test_a_missing_attribute_names_the_ones_there_are() -> None:
    """``meta.job_uuid`` is an AttributeError that lists every field and ``remaining()``."""
    meta = JobMeta("j", "p/n:1.0.0", "execute", None, "global", None, None, None)
    with pytest.raises(AttributeError) as raised:
        meta.job_uuid  # type: ignore[attr-defined]  # noqa: B018 - the access is the test
    assert str(raised.value) == f"JobMeta has no attribute 'job_uuid'; it has {FIELDS}"
    assert (raised.value.name, raised.value.obj) == ("job_uuid", meta)


def test_it_is_read_only() -> None:
    """A block cannot change what the job meta says."""
    meta = JobMeta("j", "p/n:1.0.0", "execute", None, "global", None, "w-1", None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        meta.worker_id = "w-2"  # type: ignore[misc]
    assert meta.worker_id == "w-1"


def test_remaining_counts_down_to_the_deadline_and_stops_at_zero() -> None:
    """``remaining()``: None without a limit, the seconds left with one, 0 once it passed."""
    now = time.monotonic()
    unlimited = JobMeta("j", "p/n:1.0.0", "execute", None, "global", None, None, None)
    assert unlimited.remaining() is None
    left = dataclasses.replace(unlimited, deadline=now + 30).remaining()
    assert left is not None
    assert 29 < left <= 30
    assert dataclasses.replace(unlimited, deadline=now - 1).remaining() == 0


async def test_run_gets_every_field_of_the_job_and_the_worker() -> None:
    """The ids, type, step, run-on entity, the worker's id and name, and the deadline JOB_TIMEOUT sets."""
    context = {"devices": [{"id": 7, "hostname": "r1"}]}
    job = _job("meta", stepLabel="probe", runOn="device", entityId=7, context=context)
    before = time.monotonic()
    data = await _data(job, job_timeout=30, worker_id="w-1", worker_name="edge")
    deadline = data.pop("deadline")
    assert before + 30 <= deadline <= time.monotonic() + 30
    assert 0 < data.pop("remaining") <= 30
    assert data == {
        "job_id": "job-meta",
        "function_block_id": "tests.meta/meta:1.0.0",
        "job_type": "execute",
        "step_label": "probe",
        "run_on": "device",
        "entity_id": 7,
        "worker_id": "w-1",
        "worker_name": "edge",
        "context": "neops_worker.blocks.context",
    }


async def test_without_a_limit_the_deadline_is_none() -> None:
    """No time limit: ``deadline`` and ``remaining()`` are None; a global job says ``global``."""
    data = await _data(_job("meta"))
    assert (data["deadline"], data["remaining"], data["run_on"], data["worker_id"]) == (
        None,
        None,
        "global",
        None,
    )


async def test_a_given_deadline_is_kept_inline() -> None:
    """A job process passes the deadline its daemon set; the job runs inline under it."""
    deadline = time.monotonic() + 12.5
    data = await _data(_job("meta"), inline=True, deadline=deadline, worker_id="w-2")
    assert (data["deadline"], data["worker_id"]) == (deadline, "w-2")


@pytest.mark.parametrize(
    ("name", "job_type"), [("meta", "acquire"), ("meta", "rollback"), ("keyword", "rollback")]
)
async def test_acquire_and_rollback_get_it_too(name: str, job_type: str) -> None:
    """Declared in ``acquire`` or ``rollback`` (in its place, or by name after ``result_from_failed``)."""
    outcome = await execute_job(_job(name, job_type), BLOCKS.get, worker_id="w-3", worker_name="n")
    assert outcome.result.result.success, outcome.result
    assert outcome.result.result.message == f"{job_type} job-{name} by w-3/n"


async def test_meta_as_a_keyword_only_parameter() -> None:
    """``run(self, params, context, *, meta)`` gets it by keyword."""
    data = await _data(_job("keyword"), worker_name="edge")
    assert (data["job_id"], data["worker_name"]) == ("job-keyword", "edge")


async def test_a_block_without_meta_is_called_as_before() -> None:
    """No meta declared: ``run(params, context)``; a two-argument rollback gets no ``result_from_failed``."""
    ran = await execute_job(_job("plain"), BLOCKS.get, worker_id="w-1")
    rolled = await execute_job(_job("plain", "rollback"), BLOCKS.get)
    assert (ran.outcome, ran.result.result.message) == ("success", "plain")
    assert (rolled.outcome, rolled.result.result.message) == ("success", "undone")


async def test_an_sdk_style_block_gets_meta_and_its_own_context() -> None:
    """SDK-style: ``run`` sees the SDK's context and the meta; ``acquire`` the AcquireParams and the meta."""
    data = await _data(_job("sdk_meta"), worker_id="w-4")
    assert (data["worker_id"], data["context"]) == ("w-4", "neops_worker.sdk.workflow.workflow_context")
    acquired = await execute_job(_job("sdk_meta", "acquire"), BLOCKS.get, worker_id="w-4", worker_name="n")
    assert acquired.result.result.message == "acquire job-sdk_meta by w-4/n AcquireParams"


async def test_the_sdk_direct_call_gives_meta_to_a_run_that_declares_it() -> None:
    """``execute_function_block`` (the SDK's tests call it) passes the meta given, else a no-job stand-in."""
    context = SdkContext({"devices": [{"id": 3}]}, "device", 3)
    given = JobMeta("j-9", "x/y:1.0.0", "execute", "s", "device", 3, "w", "n")
    direct = await Sdk().execute_function_block(
        FunctionBlockParams(), context, given, propagate_exceptions=True
    )
    assert direct.data is not None
    assert (direct.data.job_id, direct.data.worker_id) == ("j-9", "w")
    stand_in = await Sdk().execute_function_block(FunctionBlockParams(), context, propagate_exceptions=True)
    assert stand_in.data is not None
    assert stand_in.data.model_dump(exclude={"context", "remaining"}) == {
        "job_id": "",
        "function_block_id": "tests.meta/sdk_meta:1.0.0",
        "job_type": "execute",
        "step_label": None,
        "run_on": "device",
        "entity_id": 3,
        "worker_id": None,
        "worker_name": None,
        "deadline": None,
    }
