"""Interface report: counts a device's interfaces by state and makes sure it has a loopback."""

# mypy: ignore-errors
from neops_worker_sdk.concurrency import run_in_thread, run_parallel
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
from neops_worker_sdk.workflow import Interface, InterfaceField, WorkflowContext
from neops_worker_sdk.workflow.entities import DeviceReference
from neops_workflow_engine_client import EntityAcquireByElasticQuery, EntityAcquireContext
from pydantic import Field


class InterfaceReportParams(FunctionBlockParams):
    """Which interfaces to report on."""

    name_prefix: str = Field(description="Only interfaces whose name starts with this")
    loopback: str = Field(default="Loopback0", description="Loopback the device must have")


class InterfaceReportResult(FunctionBlockResultData):
    """Interfaces by state."""

    hostname: str | None
    up: list[str]
    down: list[str]
    created: list[str]


@register_function_block(
    Registration(
        name="interface_report",
        description="Counts a device's interfaces by state and creates its loopback if it is missing",
        package="fb.acme.examples",
        run_on="device",
        fb_type="facts",
        param_cls=InterfaceReportParams,
        result_cls=InterfaceReportResult,
        version=(1, 2, 0),
        is_idempotent=True,
    )
)
class InterfaceReport(FunctionBlock[InterfaceReportParams, InterfaceReportResult]):
    """Reports on a device's interfaces."""

    async def acquire(self, params: AcquireParams[InterfaceReportParams]) -> FunctionBlockAcquireResult:
        """The target device from the context, and its interfaces from the search."""
        query = "*" if "name_prefix" in params.unresolved else f"name:{params.partial.name_prefix}*"
        return FunctionBlockAcquireResult(
            success=True,
            message=f"Acquiring interfaces matching {query}",
            acquires=[
                EntityAcquireContext(type="context", entity="device", filter="[0]", assertNotEmpty=True),
                EntityAcquireByElasticQuery(
                    type="elastic", entity="interface", query=query, assertNotEmpty=False, limit=100
                ),
            ],
        )

    @run_in_thread
    def normalise(self, name: str) -> str:
        """Blocking work, such as parsing a show command, runs in a thread."""
        return name.strip()

    async def run(
        self, params: InterfaceReportParams, context: WorkflowContext
    ) -> FunctionBlockResult[InterfaceReportResult]:
        """Count the interfaces, record the counts, create the loopback if needed."""
        device = context.device
        if device is None:
            return FunctionBlockResult(success=False, message="No device found", data=None)
        logger = self.logger.with_context(device=device.hostname)
        interfaces = [i for i in context.interfaces or [] if (i.name or "").startswith(params.name_prefix)]
        names = await run_parallel(*(self.normalise(i.name or "") for i in interfaces))
        up = [name for name, i in zip(names, interfaces, strict=True) if i.state == "UP"]
        down = [name for name, i in zip(names, interfaces, strict=True) if i.state != "UP"]
        created = []
        if not any(i.name == params.loopback for i in context.interfaces or []):
            loopback = Interface(
                name=params.loopback,
                state="UP",
                device=DeviceReference(hostname=device.hostname),
                skip_if_identifier_exists=True,
                identifier_fields=[InterfaceField.name],
            )
            context.interfaces.append(loopback)
            created.append(params.loopback)
            logger.info(f"Creating {params.loopback}")
        device.facts = {**(device.facts or {}), "interfaces_up": len(up), "interfaces_down": len(down)}
        logger.info(f"{len(up)} up, {len(down)} down")
        return FunctionBlockResult(
            success=True,
            message=f"{device.hostname}: {len(up)} up, {len(down)} down",
            data=InterfaceReportResult(hostname=device.hostname, up=up, down=down, created=created),
        )
