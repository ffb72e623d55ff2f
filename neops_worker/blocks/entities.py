"""The inventory entities a job context carries: devices, interfaces and device groups.

Attributes are snake_case in Python (and in ``dbUpdates``, as the engine expects); the camelCase
wire names are accepted when parsing. Unknown fields from newer engines are ignored. Every
attribute but ``id`` is optional, because which ones arrive depends on the workflow.

Where an entity points at another one (a device's ``groups``, ``interfaces`` and ``controller``, an
interface's ``device``...), it holds an ``EntityReference``: an ``id`` if it has one (the 0.43
contract makes it optional) and every other field that came with it, kept as it came (a
``hostname``, or the whole group a 0.42.1 engine sends in a device's ``groups``). Only the
top-level entities of a context require an ``id``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

_CONFIG = ConfigDict(
    alias_generator=to_camel, populate_by_name=True, extra="ignore", validate_assignment=True
)


class Entity(BaseModel):
    """Base of every inventory entity: an ``id`` and lenient, alias-aware parsing."""

    model_config = _CONFIG

    id: int = Field(ge=1)


class EntityReference(BaseModel):
    """A reference to another entity (``EntityReferenceDto``): its ``id``, if any, and what else came.

    The other fields are kept as they came, by their wire names (``reference.hostname``,
    ``reference.model_extra``); ``null`` and an absent ``id`` are the same.
    """

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="allow", validate_assignment=True
    )

    id: int | None = Field(default=None, ge=1)

    if TYPE_CHECKING:  # pydantic answers the fields that came; type checkers learn they may be read

        def __getattr__(self, name: str) -> Any: ...


#: The 0.42.1 contract's name of a reference (``BaseEntityDto``).
BaseEntity = EntityReference


class Platform(BaseModel):
    """A device platform (``PlatformTypeDto``); its ``id`` is optional, as in the 0.43 contract."""

    model_config = _CONFIG

    id: int | None = Field(default=None, ge=1)
    name: str | None = None
    short_name: str | None = None
    vendor: str | None = None


class DeviceCheck(Entity):
    """A device check element."""

    name: str | None = None
    description: str | None = None
    is_active: bool | None = None


class DeviceConfig(Entity):
    """A stored configuration version of a device."""

    version: str | None = None
    config: str | None = None


class DeviceExecution(Entity):
    """A device execution record."""

    name: str | None = None
    status: str | None = None


class DeviceExecutionResult(Entity):
    """The result of an execution on a device or group."""

    success: bool | None = None
    message: str | None = None


class DeviceFact(Entity):
    """A single named device fact."""

    name: str | None = None
    value: str | None = None


class DeviceGroupCheck(Entity):
    """A check element of a device group."""

    created_at: str | None = None
    purge_at: str | None = None
    updated_at: str | None = None
    valid_till: str | None = None
    group: DeviceGroup | None = None
    key: str | None = None
    reason: str | None = None
    metrics: dict[str, Any] | None = None
    result: Literal["FAILED", "NOK", "OK"] | None = None


class DeviceGroupFact(Entity):
    """A fact element of a device group."""

    created_at: str | None = None
    purge_at: str | None = None
    updated_at: str | None = None
    valid_till: str | None = None
    group: DeviceGroup | None = None
    key: str | None = None
    value: dict[str, Any] | None = None


class RoleDeviceGroup(Entity):
    """A role's permission on a device group."""

    created_at: str | None = None
    updated_at: str | None = None
    device_group: DeviceGroup | None = None
    permission: int | None = None
    permission_all_flags: list[str] | None = None
    permission_flags: list[str] | None = None


class Device(Entity):
    """A network device (``DeviceTypeDto``)."""

    active_lock_counts: int | None = None
    check_elements: list[DeviceCheck] | None = None
    password: str | None = Field(default=None, repr=False)
    checks: str | None = None
    config_versions: list[DeviceConfig] | None = None
    connection_options: str | None = None
    connection_state: Literal["AUTHFAILURE", "NEW", "NOSSH", "OK", "UNREACHABLE"] | None = None
    controller: EntityReference | None = None
    created_at: str | None = None
    current_configuration: str | None = None
    deleted_at: str | None = None
    device_execution: list[DeviceExecution] | None = None
    device_execution_results: list[DeviceExecutionResult] | None = None
    devices: list[EntityReference] | None = None
    external_reference: str | None = None
    fact_elements: list[DeviceFact] | None = None
    facts: dict[str, Any] | None = None
    first_seen_at: str | None = None
    group_count: int | None = None
    #: References in 0.43; a 0.42.1 engine sends whole groups, kept as references with all their fields.
    groups: list[EntityReference] | None = None
    hostname: str | None = None
    interface_count: int | None = None
    interfaces: list[EntityReference] | None = None
    inventory_updated_at: str | None = None
    ip: str | None = None
    is_read_locked: bool | None = None
    is_write_locked: bool | None = None
    last_configuration: str | None = None
    model: str | None = None
    permission: int | None = None
    permission_flags: list[str] | None = None
    platform: Platform | None = None
    serial: str | None = None
    software_release: str | None = None
    updated_at: str | None = None
    username: str | None = Field(default=None, repr=False)
    vendor: str | None = None


class DeviceGroup(Entity):
    """A group of devices (``DeviceGroupTypeDto``)."""

    active_lock_counts: int | None = None
    check_elements: list[DeviceGroupCheck] | None = None
    checks: dict[str, Any] | None = None
    created_at: str | None = None
    deleted_at: str | None = None
    device_count: int | None = None
    device_group_execution_results: list[DeviceExecutionResult] | None = None
    devices: list[EntityReference] | None = None
    fact_elements: list[DeviceGroupFact] | None = None
    facts: dict[str, Any] | None = None
    is_read_locked: bool | None = None
    is_write_locked: bool | None = None
    location: dict[str, Any] | None = None
    permission: int | None = None
    permission_flags: list[str] | None = None
    role_permissions: list[RoleDeviceGroup] | None = None
    title: str | None = None
    updated_at: str | None = None
    name: str | None = None
    description: str | None = None


class Interface(Entity):
    """A device interface (``InterfaceTypeDto``)."""

    name: str | None = None
    state: Literal["ADMINISTRATIVE_SHUTDOWN", "DOWN", "ERROR_DISABLED", "UP"] | None = None
    check_elements: dict[str, Any] | None = None
    checks: dict[str, Any] | None = None
    client_count: int | None = None
    clients: list[EntityReference] | None = None
    config_versions: list[dict[str, Any]] | None = None
    created_at: str | None = None
    current_configuration: str | None = None
    deleted_at: str | None = None
    description: str | None = None
    device: EntityReference | None = None
    fact_elements: list[dict[str, Any]] | None = None
    facts: dict[str, Any] | None = None
    ifindex: int | None = None
    interface: EntityReference | None = None
    interface_execution_results: list[dict[str, Any]] | None = None
    last_configuration: str | None = None
    name_sorting: str | None = None
    neighbor_for_deletion: dict[str, Any] | None = None
    permission: int | None = None
    permission_flags: list[str] | None = None
    updated_at: str | None = None


for _model in (DeviceGroupCheck, DeviceGroupFact, RoleDeviceGroup, Device, DeviceGroup):
    _model.model_rebuild()
