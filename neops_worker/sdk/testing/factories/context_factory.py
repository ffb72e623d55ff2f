"""``create_workflow_context``: a context for calling a block directly in a test."""

from __future__ import annotations

from collections.abc import Iterable

from neops_worker.blocks.entities import Device, DeviceGroup, Interface
from neops_worker.sdk.engine_client import JobExecutionContextDto
from neops_worker.sdk.workflow.workflow_context import WorkflowContext


def create_workflow_context(
    run_on: str,
    entity_id: int | float | None = None,
    devices: Iterable[Device] | None = None,
    device_groups: Iterable[DeviceGroup] | None = None,
    interfaces: Iterable[Interface] | None = None,
) -> WorkflowContext:
    """A context holding these entities (the same objects), running on ``run_on``/``entity_id``."""
    dto = JobExecutionContextDto(
        devices=list(devices or []),
        device_groups=list(device_groups or []),
        interfaces=list(interfaces or []),
    )
    return WorkflowContext(dto, run_on=run_on, entity_id=entity_id)


__all__ = ["create_workflow_context"]
