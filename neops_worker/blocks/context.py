"""The workflow context a block runs in, and the ``dbUpdates`` its changes produce.

A block changes the live entities (edits attributes, appends new entities made with the
``create_*`` helpers, removes entities from the lists). ``WorkflowContext.db_updates()`` compares
them with the snapshot taken when the context was built, entity type by entity type (device,
interface, group), matched on ``id``: creates first, then deletes, then patches of top-level
attributes with snake_case names, as the engine expects (protocol section 6.3).
"""

from __future__ import annotations

import contextvars
import random
import threading
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, Field

from neops_worker.blocks.entities import Device, DeviceGroup, Entity, Interface
from neops_worker.engine.wire import DbUpdate, DbUpdates, EntityCreate, EntityDelete, EntityKind, EntityPatch

E = TypeVar("E", bound=Entity)

#: Engine-managed attributes the worker never patches.
EXCLUDED_ATTRIBUTES = frozenset(
    {
        "id",
        "created_at",
        "updated_at",
        "deleted_at",
        "first_seen_at",
        "inventory_updated_at",
        "device_count",
        "interface_count",
        "group_count",
        "client_count",
        "active_lock_counts",
        "is_read_locked",
        "is_write_locked",
        "permission",
        "permission_flags",
        "role_permissions",
    }
)

#: Attributes of an entity made to be created (the vendor SDK's creation wrappers): options of the
#: create, sent beside its ``data``, never inside it, and never patched.
CREATION_OPTIONS = frozenset({"skip_if_identifier_exists", "identifier_fields"})

#: Temporary ids of new entities: drawn from a range the engine maps to real ids.
TEMP_ID_RANGE = (10_000_000, 2**31 - 1)

_temp_ids_lock = threading.Lock()
#: The temporary ids of the job in hand: its context's set, made current when the job's context was
#: built (it reaches the block's threads with the copied context), so it lives as long as the job.
_job_temp_ids: contextvars.ContextVar[set[int] | None] = contextvars.ContextVar(
    "neops_worker_temporary_ids", default=None
)


def new_temporary_id() -> int:
    """A temporary entity id, unique within the job in hand (outside a job, a random one of the range)."""
    return _draw_temporary_id(_job_temp_ids.get())


def _draw_temporary_id(used: set[int] | None) -> int:
    with _temp_ids_lock:
        while True:
            candidate = random.randint(*TEMP_ID_RANGE)  # noqa: S311 - an id, not a secret
            if used is None:
                return candidate
            if candidate not in used:
                used.add(candidate)
                return candidate


class _CreateOptions(BaseModel):
    identifier_fields: list[str] | None = None
    skip_if_identifier_exists: bool = False


class WorkflowContext(BaseModel):
    """The entities of one job, the run-on entity, and the changes the block makes to them."""

    devices: list[Device] = Field(default_factory=list)
    device_groups: list[DeviceGroup] = Field(default_factory=list)
    interfaces: list[Interface] = Field(default_factory=list)
    run_on: str = "global"
    entity_id: int | None = None

    def model_post_init(self, __context: Any) -> None:
        """Take the "before" snapshot the changes are measured against."""
        self._before = self._snapshot()
        self._create_options: dict[tuple[str, int], _CreateOptions] = {}
        self._temporary_ids: set[int] = set()

    @classmethod
    def from_wire(
        cls, context: Mapping[str, Any], run_on: str = "global", entity_id: int | None = None
    ) -> WorkflowContext:
        """Build the job's context from its ``context`` JSON (camelCase or snake_case keys).

        It becomes the job in hand's: temporary ids drawn from now on (``new_temporary_id``) are unique
        within it, until the next job's context is built.
        """
        built = cls.model_validate(
            {
                "devices": context.get("devices") or [],
                "device_groups": context.get("deviceGroups") or context.get("device_groups") or [],
                "interfaces": context.get("interfaces") or [],
                "run_on": run_on,
                "entity_id": entity_id,
            }
        )
        _job_temp_ids.set(built._temporary_ids)
        return built

    def new_temporary_id(self) -> int:
        """A temporary id for a new entity of this context, unique within it."""
        return _draw_temporary_id(self._temporary_ids)

    # --- the run-on entity ----------------------------------------------------------------

    @property
    def device(self) -> Device:
        """The device a ``runOn: device`` job targets."""
        return self._run_on_entity("device", self.devices)

    @property
    def interface(self) -> Interface:
        """The interface a ``runOn: interface`` job targets."""
        return self._run_on_entity("interface", self.interfaces)

    @property
    def device_group(self) -> DeviceGroup:
        """The device group a ``runOn: group`` job targets."""
        return self._run_on_entity("group", self.device_groups)

    def _run_on_entity(self, kind: str, entities: Sequence[E]) -> E:
        if self.run_on != kind:
            raise LookupError(f"this job runs on {self.run_on!r}, not on a {kind}")
        if self.entity_id is None:
            raise LookupError(f"the job runs on a {kind} but names no entityId")
        for entity in entities:
            if entity.id == self.entity_id:
                return entity
        raise LookupError(f"{kind} {self.entity_id} (the job's entityId) is not in the job context")

    def validate_run_on(self) -> None:
        """Fail early when a device/interface/group job does not name an entity of its context."""
        if self.run_on == "device":
            self._run_on_entity("device", self.devices)
        elif self.run_on == "interface":
            self._run_on_entity("interface", self.interfaces)
        elif self.run_on == "group":
            self._run_on_entity("group", self.device_groups)

    # --- creation helpers -------------------------------------------------------------------

    def create_device(self, *, skip_if_identifier_exists: bool = True, **attributes: Any) -> Device:
        """Add a new device (temporary id); the engine matches an existing twin on hostname/ip."""
        device = Device(id=self.new_temporary_id(), **attributes)
        return self._add(device, self.devices, "device", ["hostname", "ip"], skip_if_identifier_exists)

    def create_interface(self, *, skip_if_identifier_exists: bool = True, **attributes: Any) -> Interface:
        """Add a new interface (temporary id); the engine matches an existing twin on name."""
        interface = Interface(id=self.new_temporary_id(), **attributes)
        return self._add(interface, self.interfaces, "interface", ["name"], skip_if_identifier_exists)

    def create_device_group(
        self, *, skip_if_identifier_exists: bool = True, **attributes: Any
    ) -> DeviceGroup:
        """Add a new device group (temporary id); the engine matches an existing twin on name."""
        group = DeviceGroup(id=self.new_temporary_id(), **attributes)
        return self._add(group, self.device_groups, "group", ["name"], skip_if_identifier_exists)

    def _add(self, entity: E, entities: list[E], kind: str, identifiers: list[str], skip: bool) -> E:
        entities.append(entity)
        self._create_options[(kind, entity.id)] = _CreateOptions(
            identifier_fields=identifiers, skip_if_identifier_exists=skip
        )
        return entity

    # --- changes ---------------------------------------------------------------------------

    def _live(self) -> dict[EntityKind, dict[int, Entity]]:
        entities: dict[EntityKind, list[Any]] = {
            "device": self.devices,
            "interface": self.interfaces,
            "group": self.device_groups,
        }
        return {kind: {entity.id: entity for entity in listed} for kind, listed in entities.items()}

    def _snapshot(self) -> dict[EntityKind, dict[int, dict[str, Any]]]:
        return {
            kind: {
                entity_id: entity.model_dump(mode="json", exclude=set(CREATION_OPTIONS))
                for entity_id, entity in entities.items()
            }
            for kind, entities in self._live().items()
        }

    def db_updates(self) -> DbUpdates:
        """The changes made since the context was built, as the engine's ``dbUpdates``."""
        after = self._snapshot()
        live = self._live()
        updates: list[DbUpdate] = []
        for kind in ("device", "interface", "group"):
            updates.extend(self._diff(kind, self._before[kind], after[kind], live[kind]))
        return DbUpdates(updates=updates)

    def _options(self, kind: EntityKind, entity: Entity) -> _CreateOptions:
        """How a new entity is created: as its ``create_*`` helper said, or as the entity itself says."""
        helper = self._create_options.get((kind, entity.id))
        if helper is not None:
            return helper
        fields = [str(field) for field in getattr(entity, "identifier_fields", None) or ()]
        return _CreateOptions(
            identifier_fields=fields or None,
            skip_if_identifier_exists=bool(getattr(entity, "skip_if_identifier_exists", False)),
        )

    def _diff(
        self,
        kind: EntityKind,
        before: dict[int, dict[str, Any]],
        after: dict[int, dict[str, Any]],
        live: dict[int, Entity],
    ) -> list[DbUpdate]:
        creates: list[DbUpdate] = [
            self._create(kind, live[entity_id], after[entity_id])
            for entity_id in after.keys() - before.keys()
        ]
        deletes: list[DbUpdate] = [
            EntityDelete(entity=kind, id=entity_id) for entity_id in before.keys() - after.keys()
        ]
        patches: list[DbUpdate] = []
        for entity_id in sorted(before.keys() & after.keys()):
            old, new = before[entity_id], after[entity_id]
            for attribute in sorted(new.keys() - EXCLUDED_ATTRIBUTES):
                if old.get(attribute) != new[attribute]:
                    patches.append(
                        EntityPatch(entity=kind, id=entity_id, path=attribute, value=new[attribute])
                    )
        return creates + deletes + patches

    def _create(self, kind: EntityKind, entity: Entity, data: dict[str, Any]) -> EntityCreate:
        options = self._options(kind, entity)
        return EntityCreate(
            entity=kind,
            id=entity.id,
            data=data,
            identifier_fields=options.identifier_fields,
            skip_if_identifier_exists=options.skip_if_identifier_exists,
        )
