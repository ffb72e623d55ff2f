"""The vendor SDK's ``workflow`` module: the context, the creation wrappers and the ``dbUpdates`` helpers."""

from __future__ import annotations

from neops_worker.sdk.workflow.db_updates import (
    DbUpdateDto,
    EntityType,
    generate_db_updates,
    generate_temporary_id,
)
from neops_worker.sdk.workflow.entities import (
    Device,
    DeviceField,
    DeviceGroup,
    GroupField,
    Interface,
    InterfaceField,
)
from neops_worker.sdk.workflow.workflow_context import WorkflowContext

__all__ = [
    "DbUpdateDto",
    "Device",
    "DeviceField",
    "DeviceGroup",
    "EntityType",
    "GroupField",
    "Interface",
    "InterfaceField",
    "WorkflowContext",
    "generate_db_updates",
    "generate_temporary_id",
]
