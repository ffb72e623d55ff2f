"""The vendor SDK's creation wrappers: a new ``Device``, ``Interface`` or ``DeviceGroup``, and how.

A wrapper is an entity with a temporary id (drawn at once, so other entities can refer to it) and
two creation options: ``identifier_fields``, the attributes that spot an existing twin, and
``skip_if_identifier_exists``, create nothing when there is one. Both are required and must agree
(fields with ``True``, none with ``False``). Appended to the context's list, the entity becomes a
``create`` entry of the ``dbUpdates`` carrying those options; they are never part of its ``data``.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any, Self

from pydantic import BaseModel, Field, field_serializer, model_validator

from neops_worker.blocks import entities as native
from neops_worker.blocks.context import new_temporary_id


class DeviceField(enum.StrEnum):
    """Device attributes that may identify an existing device."""

    hostname = "hostname"
    ip = "ip"


class InterfaceField(enum.StrEnum):
    """Interface attributes that may identify an existing interface."""

    name = "name"


class GroupField(enum.StrEnum):
    """Group attributes that may identify an existing group."""

    name = "name"


class Platform(native.Platform):
    """A platform reference by name or short name (``Platform(short_name="srl")``); the id is optional."""


class DeviceReference(native.EntityReference):
    """A device reference by id, hostname or ip (e.g. to a device created in the same result)."""

    hostname: str | None = None
    ip: str | None = None


def _without_nulls(value: BaseModel | None) -> dict[str, Any] | None:
    """A reference as the SDK sends it: only the keys that identify it."""
    return None if value is None else value.model_dump(mode="json", exclude_none=True)


def _check_options(entity: Device | Interface | DeviceGroup) -> None:
    if entity.skip_if_identifier_exists and not entity.identifier_fields:
        raise ValueError("identifier_fields are required when skip_if_identifier_exists=True")
    if entity.identifier_fields and not entity.skip_if_identifier_exists:
        raise ValueError("identifier_fields need skip_if_identifier_exists=True")


class Device(native.Device):
    """A device to create: ``Device(hostname=..., skip_if_identifier_exists=True, identifier_fields=...)``."""

    id: int = Field(default_factory=new_temporary_id)
    platform: Platform | None = None
    skip_if_identifier_exists: bool
    identifier_fields: Sequence[DeviceField]

    @field_serializer("platform")
    def _platform(self, value: Platform | None) -> dict[str, Any] | None:
        return _without_nulls(value)

    @model_validator(mode="after")
    def _options_agree(self) -> Self:
        _check_options(self)
        return self


class Interface(native.Interface):
    """An interface to create, e.g. ``Interface(name="eth0", device=DeviceReference(hostname="r1"), ...)``."""

    id: int = Field(default_factory=new_temporary_id)
    device: DeviceReference | None = None
    skip_if_identifier_exists: bool
    identifier_fields: Sequence[InterfaceField]

    @field_serializer("device")
    def _device(self, value: DeviceReference | None) -> dict[str, Any] | None:
        return _without_nulls(value)

    @model_validator(mode="after")
    def _options_agree(self) -> Self:
        _check_options(self)
        return self


class DeviceGroup(native.DeviceGroup):
    """A device group to create: ``DeviceGroup(name="dc1", skip_if_identifier_exists=True, ...)``."""

    id: int = Field(default_factory=new_temporary_id)
    skip_if_identifier_exists: bool
    identifier_fields: Sequence[GroupField]

    @model_validator(mode="after")
    def _options_agree(self) -> Self:
        _check_options(self)
        return self


__all__ = [
    "Device",
    "DeviceField",
    "DeviceGroup",
    "DeviceReference",
    "GroupField",
    "Interface",
    "InterfaceField",
    "Platform",
]
