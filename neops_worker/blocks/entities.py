"""The inventory entities a job context carries: devices, interfaces and device groups.

Attributes are snake_case in Python (and in ``dbUpdates``, as the engine expects); the camelCase
wire names are accepted when parsing. Unknown fields from newer engines are ignored. Every
attribute but ``id`` is optional, because which ones arrive depends on the workflow.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class Entity(BaseModel):
    """Base of every inventory entity: an ``id`` and lenient, alias-aware parsing."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", validate_assignment=True
    )

    id: int = Field(ge=1)


class BaseEntity(Entity):
    """A bare reference to another entity (``BaseEntityDto``)."""


class Platform(Entity):
    """A device platform (``PlatformTypeDto``)."""

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
    controller: BaseEntity | None = None
    created_at: str | None = None
    current_configuration: str | None = None
    deleted_at: str | None = None
    device_execution: list[DeviceExecution] | None = None
    device_execution_results: list[DeviceExecutionResult] | None = None
    devices: list[BaseEntity] | None = None
    external_reference: str | None = None
    fact_elements: list[DeviceFact] | None = None
    facts: dict[str, Any] | None = None
    first_seen_at: str | None = None
    group_count: int | None = None
    groups: list[DeviceGroup] | None = None
    hostname: str | None = None
    interface_count: int | None = None
    interfaces: list[BaseEntity] | None = None
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
    devices: list[BaseEntity] | None = None
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
    clients: list[dict[str, Any]] | None = None
    config_versions: list[dict[str, Any]] | None = None
    created_at: str | None = None
    current_configuration: str | None = None
    deleted_at: str | None = None
    description: str | None = None
    device: BaseEntity | None = None
    fact_elements: list[dict[str, Any]] | None = None
    facts: dict[str, Any] | None = None
    ifindex: int | None = None
    interface: BaseEntity | None = None
    interface_execution_results: list[dict[str, Any]] | None = None
    last_configuration: str | None = None
    name_sorting: str | None = None
    neighbor_for_deletion: dict[str, Any] | None = None
    permission: int | None = None
    permission_flags: list[str] | None = None
    updated_at: str | None = None


for _model in (DeviceGroupCheck, DeviceGroupFact, RoleDeviceGroup, Device, DeviceGroup):
    _model.model_rebuild()
