"""Lab inventory: what the lab says of a router, kept as a fact of the device."""

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
from neops_worker_sdk.testing.base.function_block_test_case import fb_test_case_with_lab
from neops_worker_sdk.workflow.workflow_context import WorkflowContext


class LabInventoryParams(FunctionBlockParams):
    """Under which fact the inventory is kept."""

    fact: str = "lab"


class LabInventoryResult(FunctionBlockResultData):
    """What the device context says of the router."""

    hostname: str
    ip: str
    platform: str
    devices_in_lab: int


@fb_test_case_with_lab(
    "Inventory of a lab router",
    LabInventoryParams(),
    run_on="device",
    remote_lab_fixture="two_routers",
    assertions=[
        lambda result: result.data is not None and result.data.platform == "frr",
        lambda result: result.data is not None and result.data.ip == result.data.hostname,
        lambda result: result.data is not None and result.data.devices_in_lab == 2,
    ],
)
@register_function_block(
    Registration(
        name="lab_inventory",
        description="Keeps a router's management address and platform as a fact",
        package="fb.acme.newer",
        run_on="device",
        fb_type="configure",
        param_cls=LabInventoryParams,
        result_cls=LabInventoryResult,
        version=(1, 0, 0),
    )
)
class LabInventory(FunctionBlock[LabInventoryParams, LabInventoryResult]):
    """Reads the router's management address, login and platform from its context."""

    async def acquire(self, params: AcquireParams[LabInventoryParams]) -> FunctionBlockAcquireResult:
        """The device comes with the job."""
        return FunctionBlockAcquireResult(success=True, message="Nothing to acquire")

    async def run(
        self, params: LabInventoryParams, context: WorkflowContext, meta: Any
    ) -> FunctionBlockResult[LabInventoryResult]:
        """Keep the management address and platform as a fact; a device without a login fails."""
        device = context.device
        platform = device.platform.short_name if device and device.platform else None
        if device is None or not device.hostname or not device.ip or not device.username or not platform:
            return FunctionBlockResult(success=False, message="The device has no address, login or platform")
        device.facts = {**(device.facts or {}), params.fact: {"mgmt": device.ip, "platform": platform}}
        found = LabInventoryResult(
            hostname=device.hostname, ip=device.ip, platform=platform, devices_in_lab=len(context.devices)
        )
        message = f"{device.hostname} runs {platform} (job {meta.job_id}, worker {meta.worker_id})"
        return FunctionBlockResult(success=True, message=message, data=found)
