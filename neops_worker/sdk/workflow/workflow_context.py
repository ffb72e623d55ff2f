"""The vendor SDK's ``WorkflowContext``: the job's entities, its run-on entity or ``None``, and the changes.

It is a view of the worker's own context (:class:`neops_worker.WorkflowContext`): the entity
lists are the same lists, so whatever a block changes, appends or removes is what the worker
turns into ``dbUpdates``. Only the run-on accessors differ: as in the SDK, ``context.device`` is
``None`` when the job does not run on a device (the native context raises ``LookupError``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from neops_worker.blocks.context import WorkflowContext as NativeContext
from neops_worker.blocks.entities import Device, DeviceGroup, Entity, Interface
from neops_worker.engine.wire import DbUpdates
from neops_worker.sdk.engine_client import JobExecutionContextDto

E = TypeVar("E", bound=Entity)


class WorkflowContext:
    """A job's entities and run-on target, built from a ``JobExecutionContextDto`` (or its JSON)."""

    _native: NativeContext

    def __init__(
        self,
        context: JobExecutionContextDto | Mapping[str, Any],
        run_on: str,
        entity_id: int | float | None = None,
    ) -> None:
        dto = JobExecutionContextDto.model_validate(context)
        native = NativeContext(
            devices=dto.devices or [],
            device_groups=dto.device_groups or [],
            interfaces=dto.interfaces or [],
            run_on=run_on,
            entity_id=None if entity_id is None else int(entity_id),
        )
        _check_target(native)
        self._native = native

    @classmethod
    def of(cls, context: NativeContext | WorkflowContext) -> WorkflowContext:
        """The SDK's view of the worker's context (sharing its entities); a view is returned as it is."""
        if isinstance(context, WorkflowContext):
            return context
        view = cls.__new__(cls)
        view._native = context
        return view

    @property
    def native(self) -> NativeContext:
        """The worker's context this view shows."""
        return self._native

    @property
    def run_on(self) -> str:
        """The kind of entity the job runs on: ``global``, ``device``, ``interface``, ``group``, ..."""
        return self._native.run_on

    @property
    def entity_id(self) -> int | None:
        """The id of the entity the job runs on, if it runs on one."""
        return self._native.entity_id

    @property
    def devices(self) -> list[Device]:
        """The job's devices; append, remove or replace them to create or delete devices."""
        return self._native.devices

    @devices.setter
    def devices(self, value: list[Device] | None) -> None:
        self._native.devices = value if value is not None else []

    @property
    def interfaces(self) -> list[Interface]:
        """The job's interfaces."""
        return self._native.interfaces

    @interfaces.setter
    def interfaces(self, value: list[Interface] | None) -> None:
        self._native.interfaces = value if value is not None else []

    @property
    def device_groups(self) -> list[DeviceGroup]:
        """The job's device groups."""
        return self._native.device_groups

    @device_groups.setter
    def device_groups(self, value: list[DeviceGroup] | None) -> None:
        self._native.device_groups = value if value is not None else []

    @property
    def device(self) -> Device | None:
        """The device a ``device`` job runs on; ``None`` for any other job."""
        return _target(self._native.devices, self, "device")

    @property
    def interface(self) -> Interface | None:
        """The interface an ``interface`` job runs on; ``None`` for any other job."""
        return _target(self._native.interfaces, self, "interface")

    @property
    def device_group(self) -> DeviceGroup | None:
        """The group a ``group`` job runs on; ``None`` for any other job."""
        return _target(self._native.device_groups, self, "group")

    def compute_db_updates(self) -> DbUpdates | None:
        """The changes since the context was built as ``dbUpdates``; ``None`` when nothing changed."""
        updates = self._native.db_updates()
        return updates if updates.updates else None

    def __repr__(self) -> str:
        return f"WorkflowContext(run_on={self.run_on!r}, entity_id={self.entity_id!r})"


def _target(entities: list[E], context: WorkflowContext, kind: str) -> E | None:
    if context.run_on != kind:
        return None
    return next((entity for entity in entities if entity.id == context.entity_id), None)


def _check_target(native: NativeContext) -> None:
    """As in the SDK, a context that runs on an entity must name one it holds."""
    try:
        native.validate_run_on()
    except LookupError as exc:
        raise ValueError(str(exc)) from None


__all__ = ["WorkflowContext"]
