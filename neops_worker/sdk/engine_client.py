"""The engine client's DTO names that blocks import, as the native models they correspond to.

The vendor SDK's blocks import entity and acquire models from the generated engine client
(``neops_workflow_engine_client``). Here the same names are the worker's own models: entities
with snake_case attributes that accept the camelCase wire names too, acquires that accept
``assertNotEmpty=`` as well as ``assert_not_empty=``. Nothing here talks to an engine.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from neops_worker.blocks.entities import Device, DeviceGroup, EntityReference, Interface, Platform
from neops_worker.engine.wire import (
    AcquireByElasticQuery,
    AcquireFromContext,
    DbUpdates,
    EntityCreate,
    EntityDelete,
    EntityPatch,
)

DeviceTypeDto = Device
InterfaceTypeDto = Interface
DeviceGroupTypeDto = DeviceGroup
PlatformTypeDto = Platform
BaseEntityDto = EntityReference
EntityReferenceDto = EntityReference
EntityCreateDto = EntityCreate
EntityPatchDto = EntityPatch
EntityDeleteDto = EntityDelete
JobExecutionResultDbUpdatesDto = DbUpdates


class EntityAcquireByElasticQuery(AcquireByElasticQuery):
    """An ``elastic`` acquire, spelt as the engine client spells it (``assertNotEmpty=``)."""

    assert_not_empty: bool = Field(alias="assertNotEmpty")


class EntityAcquireContext(AcquireFromContext):
    """A ``context`` acquire, spelt as the engine client spells it (``assertNotEmpty=``)."""

    assert_not_empty: bool = Field(alias="assertNotEmpty")


class JobExecutionContextDto(BaseModel):
    """A job's entities (``devices``, ``deviceGroups``, ``interfaces``), as the SDK's context takes them."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    devices: list[Device] | None = Field(default=None)
    device_groups: list[DeviceGroup] | None = Field(default=None)
    interfaces: list[Interface] | None = Field(default=None)


__all__ = [
    "BaseEntityDto",
    "DeviceGroupTypeDto",
    "DeviceTypeDto",
    "EntityAcquireByElasticQuery",
    "EntityAcquireContext",
    "EntityCreateDto",
    "EntityDeleteDto",
    "EntityPatchDto",
    "EntityReferenceDto",
    "InterfaceTypeDto",
    "JobExecutionContextDto",
    "JobExecutionResultDbUpdatesDto",
    "PlatformTypeDto",
]
