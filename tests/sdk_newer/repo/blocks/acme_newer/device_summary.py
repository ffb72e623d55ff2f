"""Device summary: the device's platform and interfaces, kept as a fact of the device."""

# mypy: ignore-errors
# ``meta`` is typed Any: the SDK's documentation writes run(self, params, context, meta) and
# publishes no type for it.
from typing import Any

from neops_worker_sdk.function_block.acquire_params import AcquireParams
from neops_worker_sdk.function_block.function_block import (
    FunctionBlock,
    FunctionBlockAcquireResult,
    FunctionBlockParams,
    FunctionBlockResult,
    FunctionBlockResultData,
)
from neops_worker_sdk.registry.decorator import register_function_block
from neops_worker_sdk.registry.registration import Registration
from neops_worker_sdk.testing.base.function_block_test_case import fb_test_case
from neops_worker_sdk.testing.factories.context_factory import create_workflow_context
from neops_worker_sdk.workflow.workflow_context import WorkflowContext
from neops_workflow_engine_client import DeviceTypeDto, EntityReferenceDto, InterfaceTypeDto, PlatformTypeDto


class DeviceSummaryParams(FunctionBlockParams):
    """Which interfaces count."""

    interface_prefix: str = ""


class DeviceSummaryResult(FunctionBlockResultData):
    """What the summary found."""

    hostname: str
    platform: str | None
    interfaces: list[str]


ROUTER = DeviceTypeDto(id=42, hostname="core-rtr-01", platform=PlatformTypeDto(short_name="ios"))
INTERFACES = [
    InterfaceTypeDto(id=7, name="Gi0/1", device=EntityReferenceDto(id=42)),
    InterfaceTypeDto(id=8, name="Lo0", device=EntityReferenceDto(id=42)),
]


@fb_test_case(
    "Summarises core-rtr-01",
    DeviceSummaryParams(interface_prefix="Gi"),
    create_workflow_context(run_on="device", entity_id=42, devices=[ROUTER], interfaces=INTERFACES),
    expected_result_data=DeviceSummaryResult(hostname="core-rtr-01", platform="ios", interfaces=["Gi0/1"]),
)
@fb_test_case(
    "A device without a hostname fails",
    DeviceSummaryParams(),
    create_workflow_context(run_on="device", entity_id=5, devices=[DeviceTypeDto(id=5)]),
    succeeds=False,
    assertions=[lambda result: result.message == "Device 5 has no hostname"],
)
@register_function_block(
    Registration(
        name="device_summary",
        description="Summarises a device's platform and interfaces as a fact",
        package="fb.acme.newer",
        run_on="device",
        fb_type="configure",
        param_cls=DeviceSummaryParams,
        result_cls=DeviceSummaryResult,
        version=(1, 0, 0),
    )
)
class DeviceSummary(FunctionBlock[DeviceSummaryParams, DeviceSummaryResult]):
    """Summarises the device the job runs on."""

    async def acquire(self, params: AcquireParams[DeviceSummaryParams]) -> FunctionBlockAcquireResult:
        """The device comes with the job."""
        return FunctionBlockAcquireResult(success=True, message="Nothing to acquire")

    async def run(
        self, params: DeviceSummaryParams, context: WorkflowContext, meta: Any
    ) -> FunctionBlockResult[DeviceSummaryResult]:
        """List the device's interfaces, keep the summary as its ``summary`` fact; say which job did."""
        device = context.device
        if device is None or not device.hostname:
            return FunctionBlockResult(success=False, message=f"Device {context.entity_id} has no hostname")
        names = [i.name for i in context.interfaces if i.name and i.name.startswith(params.interface_prefix)]
        platform = device.platform.short_name if device.platform else None
        device.facts = {**(device.facts or {}), "summary": {"platform": platform, "interfaces": names}}
        summary = DeviceSummaryResult(hostname=device.hostname, platform=platform, interfaces=names)
        message = f"{device.hostname}: {len(names)} interface(s) (job {meta.job_id}, worker {meta.worker_id})"
        return FunctionBlockResult(success=True, message=message, data=summary)
