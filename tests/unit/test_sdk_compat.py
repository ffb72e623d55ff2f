"""``neops_worker.sdk``: the vendor SDK's block-author surface behaves as the SDK's does."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading

import pytest
from pydantic import Field

from neops_worker import FunctionBlock as NativeBlock
from neops_worker import PermanentFailure
from neops_worker import Registration as NativeRegistration
from neops_worker import register_function_block as native_register
from neops_worker.blocks.context import WorkflowContext as NativeContext
from neops_worker.blocks.lenient import parse_leniently
from neops_worker.sdk.concurrency import run_in_thread, run_parallel, schedule_task
from neops_worker.sdk.engine_client import DeviceTypeDto, EntityAcquireByElasticQuery, InterfaceTypeDto
from neops_worker.sdk.function_block.acquire_params import AcquireParams
from neops_worker.sdk.function_block.engine_schema import EngineSchemaFunctionBlockParams
from neops_worker.sdk.function_block.function_block import (
    FunctionBlock,
    FunctionBlockAcquireResult,
    FunctionBlockResult,
    FunctionBlockResultData,
)
from neops_worker.sdk.registry import registry
from neops_worker.sdk.registry.decorator import register_function_block
from neops_worker.sdk.registry.registration import Registration
from neops_worker.sdk.testing.factories.context_factory import create_workflow_context
from neops_worker.sdk.workflow import (
    Device,
    DeviceField,
    EntityType,
    Interface,
    InterfaceField,
    WorkflowContext,
    generate_db_updates,
)
from neops_worker.sdk.workflow.entities import Platform
from neops_worker.testing import device, run_block

TRACE: contextvars.ContextVar[str] = contextvars.ContextVar("trace", default="unset")


class Params(EngineSchemaFunctionBlockParams):
    """Parameters with a required field, a default and an optional one."""

    site: str = Field(description="Site")
    count: int = Field(default=3, ge=1)
    note: str | None = None


class Data(FunctionBlockResultData):
    """What the block saw."""

    seen: str


@register_function_block(
    Registration(
        name="probe", package="unit.sdk", description="d", run_on="device", param_cls=Params, result_cls=Data
    )
)
class Probe(FunctionBlock[Params, Data]):
    """Says what it was given."""

    async def acquire(self, params: AcquireParams[Params]) -> FunctionBlockAcquireResult:
        """Reports the AcquireParams it got."""
        got = f"{type(params).__name__} {sorted(params.unresolved)} {params.raw} count={params.partial.count}"
        return FunctionBlockAcquireResult(success=True, message=got, acquires=None)

    async def run(self, params: Params, context: WorkflowContext) -> FunctionBlockResult[Data]:
        """Reports the run-on accessors, or raises when asked to."""
        if params.site == "boom":
            raise RuntimeError("boom")
        if params.site == "gone":
            raise PermanentFailure("site gone")
        target = context.device.id if context.device else None
        seen = f"{type(context).__module__} device={target} iface={context.interface}"
        return FunctionBlockResult(success=True, message="ran", data=Data(seen=seen))


def test_acquire_gets_an_acquire_params_from_the_worker() -> None:
    """The worker hands an SDK-style acquire partial, unresolved and raw; acquires=None sends none."""
    run = run_block(Probe, {"site": None, "count": 0, "extra": 1}, job_type="acquire")
    assert run.success, run.message
    assert run.message == "AcquireParams ['count', 'site'] {'site': None, 'count': 0, 'extra': 1} count=3"
    assert "acquires" not in run.result


def test_lenient_parsing_keeps_defaults_and_names_what_is_unresolved() -> None:
    """Absent fields with a default have it; required, null and invalid fields are unresolved."""
    partial, unresolved = parse_leniently(Params, {"count": "many", "note": None})
    assert isinstance(partial, Params)
    assert partial.model_dump() == {"site": None, "count": 3, "note": None}
    assert unresolved == frozenset({"site", "count"})
    assert parse_leniently(Params, {"site": "zrh"})[1] == frozenset()


def test_run_sees_none_for_a_target_the_job_does_not_run_on() -> None:
    """Through the worker, run gets the SDK's view: the device it runs on, None for an interface."""
    run = run_block(Probe, {"site": "zrh"}, {"devices": [device(42)]})
    assert run.success, run.message
    assert run.data == {"seen": "neops_worker.sdk.workflow.workflow_context device=42 iface=None"}
    global_run = run_block(Probe, {"site": "zrh"}, run_on="global")
    assert global_run.data == {"seen": "neops_worker.sdk.workflow.workflow_context device=None iface=None"}


async def test_execute_function_block_error_boundary() -> None:
    """An exception is a failed result, or raised with propagate_exceptions; rollback's likewise."""
    context = create_workflow_context(run_on="global")
    failed = await Probe().execute_function_block(Params(site="boom"), context)
    assert (failed.success, failed.message) == (False, "Error executing function block: boom")
    with pytest.raises(RuntimeError, match="boom"):
        await Probe().execute_function_block(Params(site="boom"), context, propagate_exceptions=True)
    rolled = await Probe().rollback_function_block(Params(site="x"), context)
    assert (rolled.success, rolled.message) == (False, "Rollback not implemented")
    assert (failed.retryable, rolled.retryable) == (None, None)


async def test_a_permanent_failure_stays_final_behind_the_error_boundary() -> None:
    """PermanentFailure through execute_function_block: a failed result that says no retry."""
    context = create_workflow_context(run_on="global")
    failed = await Probe().execute_function_block(Params(site="gone"), context)
    assert (failed.success, failed.message, failed.retryable) == (
        False,
        "Error executing function block: site gone",
        False,
    )


def test_an_sdk_block_without_rollback_gets_no_rollback_job_run() -> None:
    """The SDK's refusing rollback is not a rollback: the worker answers the job itself, no retry."""
    run = run_block(Probe, {"site": "zrh"}, {"devices": [device(42)]}, job_type="rollback")
    assert (run.outcome, run.result["result"]["retryable"]) == ("rejected", False)
    assert (
        run.message == "Function block unit.sdk/probe:1.0.0 does not implement rollback; nothing was undone"
    )


def test_view_shares_its_entities_with_the_worker_context() -> None:
    """What a block appends to the SDK's view is a create of the worker's context."""
    native = NativeContext.from_wire({"devices": [{"id": 42, "hostname": "r1"}]}, "device", 42)
    view = WorkflowContext.of(native)
    assert WorkflowContext.of(view) is view
    assert view.compute_db_updates() is None
    view.interfaces.append(
        Interface(name="lo0", skip_if_identifier_exists=True, identifier_fields=[InterfaceField.name])
    )
    view.device_groups = None
    (create,) = [u.to_wire() for u in native.db_updates().updates]
    assert (create["entity"], create["identifierFields"], create["skipIfIdentifierExists"]) == (
        "interface",
        ["name"],
        True,
    )
    assert "identifier_fields" not in create["data"]
    assert native.device_groups == []


def test_a_context_must_hold_its_target() -> None:
    """As in the SDK, a device context without its device is a ValueError; other accessors are None."""
    with pytest.raises(ValueError, match="not in the job context"):
        create_workflow_context(run_on="device", entity_id=7)
    context = create_workflow_context(run_on="interface", entity_id=7, interfaces=[InterfaceTypeDto(id=7)])
    assert (context.device, context.device_group, context.interface.id if context.interface else None) == (
        None,
        None,
        7,
    )


def test_creation_wrappers_need_agreeing_options_and_get_temporary_ids() -> None:
    """identifier_fields and skip_if_identifier_exists must agree; each wrapper gets a fresh id."""
    with pytest.raises(ValueError, match="identifier_fields are required"):
        Device(hostname="r1", skip_if_identifier_exists=True, identifier_fields=[])
    with pytest.raises(ValueError, match="need skip_if_identifier_exists=True"):
        Device(hostname="r1", skip_if_identifier_exists=False, identifier_fields=[DeviceField.hostname])
    first, second = (
        Device(hostname=name, skip_if_identifier_exists=True, identifier_fields=["hostname"]) for name in "ab"
    )
    assert first.id != second.id
    assert min(first.id, second.id) >= 10_000_000
    with_platform = Device(
        hostname="r1",
        platform=Platform(short_name="srl"),
        skip_if_identifier_exists=False,
        identifier_fields=[],
    )
    assert with_platform.model_dump(mode="json")["platform"] == {"short_name": "srl"}


def test_generate_db_updates_diffs_two_states() -> None:
    """generate_db_updates gives the creates, deletes and patches between two entity lists."""
    before = [DeviceTypeDto(id=1, hostname="a"), DeviceTypeDto(id=2, hostname="b")]
    after = [DeviceTypeDto(id=1, hostname="a2")]
    updates = [
        u.to_wire() for u in generate_db_updates({EntityType.DEVICE: before}, {EntityType.DEVICE: after})
    ]
    assert updates == [
        {"operation": "delete", "entity": "device", "id": 2},
        {"operation": "patch", "entity": "device", "id": 1, "path": "hostname", "value": "a2"},
    ]


def test_logger_with_context_puts_the_context_on_each_line(caplog: pytest.LogCaptureFixture) -> None:
    """self.logger names the block's class, with_context adds fields, {} placeholders are filled."""
    with caplog.at_level(logging.INFO, logger=__name__):
        Probe().logger.with_context(device="r1", name="clash").info("{} interfaces up", 3)
    (record,) = caplog.records
    assert record.getMessage() == "3 interfaces up"
    assert (record.__dict__["class"], record.__dict__["device"], record.__dict__["context_name"]) == (
        "Probe",
        "r1",
        "clash",
    )
    assert record.name == __name__
    assert record.funcName == "test_logger_with_context_puts_the_context_on_each_line"


async def test_run_in_thread_calls_run_in_parallel_threads() -> None:
    """Two @run_in_thread calls meet at a barrier only if they run at once; each sees the caller's context."""
    barrier = threading.Barrier(2, timeout=5)

    @run_in_thread
    def meet(tag: str) -> str:
        barrier.wait()
        return f"{tag}:{TRACE.get()}:{threading.current_thread() is threading.main_thread()}"

    TRACE.set("job-1")
    assert await run_parallel(meet("a"), meet("b")) == ["a:job-1:False", "b:job-1:False"]


async def test_schedule_task_starts_a_task() -> None:
    """Calling a @schedule_task function schedules it at once and hands back its Task."""
    started = asyncio.Event()

    @schedule_task
    async def background() -> str:
        started.set()
        return "done"

    task = background()
    assert isinstance(task, asyncio.Task)
    await asyncio.wait_for(started.wait(), 5)
    assert await task == "done"


def test_registry_and_engine_schema() -> None:
    """registry.function_blocks gives (class, registration, body); the schema has no defaults."""
    cls, registration, body = registry.function_blocks["unit.sdk/probe:1.0.0"]
    assert cls is Probe
    assert (registration.identifier, registration.major_version, registration.patch_version) == (
        "unit.sdk/probe:1.0.0",
        1,
        0,
    )
    assert body.markdown_help_text == "No helptext provided"
    assert body.parameter_json_schema["properties"]["count"] == {
        "minimum": 1,
        "title": "Count",
        "type": "integer",
    }
    assert Params(site="x").count == 3


def test_engine_client_names_accept_the_wire_spelling() -> None:
    """The engine client's DTO names take camelCase keyword arguments, as the generated client does."""
    router = DeviceTypeDto(id=1, softwareRelease="17.9", connectionState="OK")
    assert (router.software_release, router.connection_state) == ("17.9", "OK")
    search = EntityAcquireByElasticQuery(type="elastic", entity="device", query="*", assertNotEmpty=True)
    assert search.to_wire() == {"type": "elastic", "assertNotEmpty": True, "entity": "device", "query": "*"}


@native_register(NativeRegistration(name="native_probe", package="unit.sdk", description="d"))
class NativeProbe(NativeBlock[Params, Data]):
    """A native block: acquire gets the parameter model itself."""

    def acquire(self, params: Params) -> FunctionBlockAcquireResult:
        """Reports what it got."""
        got = f"{type(params).__name__} {sorted(params.unresolved_fields())} count={params.count}"
        return FunctionBlockAcquireResult(success=True, message=got)

    def run(self, params: Params, context: NativeContext) -> FunctionBlockResult[Data]:
        """Reads the native context, which raises for a target the job does not run on."""
        try:
            return FunctionBlockResult(success=True, data=Data(seen=str(context.device)))
        except LookupError as exc:
            return FunctionBlockResult(success=False, message=str(exc))


def test_native_blocks_keep_the_native_api() -> None:
    """A native acquire gets the model (unresolved_fields() names the gaps); context.device raises."""
    acquired = run_block(NativeProbe, {"count": 2}, job_type="acquire")
    assert acquired.message == "Params ['site'] count=2"
    ran = run_block(NativeProbe, {"site": "x"})
    assert (ran.success, ran.message) == (False, "this job runs on 'global', not on a device")
