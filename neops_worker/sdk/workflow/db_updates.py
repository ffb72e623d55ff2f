"""The vendor SDK's ``dbUpdates`` helpers: temporary ids, the entity kinds, a diff of two states."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence

from neops_worker.blocks.context import (
    CREATION_OPTIONS,
    EXCLUDED_ATTRIBUTES,
    WorkflowContext,
    new_temporary_id,
)
from neops_worker.blocks.entities import Entity
from neops_worker.engine.wire import EntityCreate, EntityDelete, EntityPatch

DbUpdateDto = EntityCreate | EntityPatch | EntityDelete

#: Attributes never compared: engine-managed ones and the creation options of the wrappers.
EXCLUDED_FIELDS = EXCLUDED_ATTRIBUTES | CREATION_OPTIONS


class EntityType(enum.StrEnum):
    """The kinds of entity a ``dbUpdates`` entry names."""

    DEVICE = "device"
    INTERFACE = "interface"
    GROUP = "group"


_LISTS = {EntityType.DEVICE: "devices", EntityType.INTERFACE: "interfaces", EntityType.GROUP: "device_groups"}


def generate_temporary_id() -> int:
    """A temporary id for a new entity, unique within the job in hand."""
    return new_temporary_id()


def generate_db_updates(
    before_entities: Mapping[EntityType, Sequence[Entity]],
    after_entities: Mapping[EntityType, Sequence[Entity]],
) -> list[DbUpdateDto]:
    """The ``dbUpdates`` entries that turn ``before_entities`` into ``after_entities``."""
    context = WorkflowContext.model_validate(
        {_LISTS[kind]: list(before_entities.get(kind, [])) for kind in EntityType}
    )
    for kind in EntityType:
        setattr(context, _LISTS[kind], list(after_entities.get(kind, [])))
    return list(context.db_updates().updates)


__all__ = ["EXCLUDED_FIELDS", "DbUpdateDto", "EntityType", "generate_db_updates", "generate_temporary_id"]
