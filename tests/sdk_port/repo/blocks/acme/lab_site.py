"""Lab site: adds a lab router and a lab group for a device group, and describes the group."""

# mypy: ignore-errors
from neops_worker_sdk.function_block.acquire_params import AcquireParams
from neops_worker_sdk.function_block.function_block import (
    FunctionBlock,
    FunctionBlockAcquireResult,
    FunctionBlockParams,
    FunctionBlockResult,
    FunctionBlockResultData,
    FunctionBlockRollbackResult,
)
from neops_worker_sdk.registry.decorator import register_function_block
from neops_worker_sdk.registry.registration import Registration
from neops_worker_sdk.workflow import Device, DeviceField, DeviceGroup, WorkflowContext
from pydantic import Field


class LabSiteParams(FunctionBlockParams):
    """The lab router to add."""

    hostname: str = Field(description="Hostname of the lab router")
    ip: str = Field(description="Management address of the lab router")
    previous_description: str | None = Field(default=None, description="Description to restore on rollback")


class LabSiteResult(FunctionBlockResultData):
    """What was added."""

    device_id: int
    group_id: int


@register_function_block(
    Registration(
        name="lab_site",
        description="Adds a lab router and a lab group for a device group",
        package="fb.acme.examples",
        run_on="group",
        fb_type="configure",
        param_cls=LabSiteParams,
        result_cls=LabSiteResult,
        reversible=True,
    )
)
class LabSite(FunctionBlock[LabSiteParams, LabSiteResult]):
    """Creates entities and changes its group."""

    async def acquire(self, params: AcquireParams[LabSiteParams]) -> FunctionBlockAcquireResult:
        """Nothing beyond the job's own group."""
        return FunctionBlockAcquireResult(success=True, message="Uses the job's group", acquires=None)

    async def run(
        self, params: LabSiteParams, context: WorkflowContext
    ) -> FunctionBlockResult[LabSiteResult]:
        """Create the router (unless one with its hostname and ip exists) and a lab group."""
        group = context.device_group
        if group is None:
            return FunctionBlockResult(success=False, message="No device group found", data=None)
        router = Device(
            hostname=params.hostname,
            ip=params.ip,
            skip_if_identifier_exists=True,
            identifier_fields=[DeviceField.hostname, DeviceField.ip],
        )
        lab = DeviceGroup(name=f"{group.name}-lab", skip_if_identifier_exists=False, identifier_fields=[])
        context.devices.append(router)
        context.device_groups.append(lab)
        group.description = f"Lab router {params.hostname}"
        return FunctionBlockResult(
            success=True,
            message=f"Added {params.hostname} and {lab.name}",
            data=LabSiteResult(device_id=router.id, group_id=lab.id),
        )

    async def rollback(
        self,
        params: LabSiteParams,
        context: WorkflowContext,
        result_from_failed: FunctionBlockResult[LabSiteResult] | None = None,
    ) -> FunctionBlockRollbackResult:
        """Put the group's description back."""
        if context.device_group is None:
            return FunctionBlockRollbackResult(success=False, message="No device group found")
        context.device_group.description = params.previous_description
        return FunctionBlockRollbackResult(success=True, message="Description restored")
