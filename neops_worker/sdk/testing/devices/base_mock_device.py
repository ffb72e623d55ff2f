"""``BaseMockDevice``: a device a test supplies (a lab node, a simulator), as a device of a job context."""

from __future__ import annotations

from abc import ABC, abstractmethod

from neops_worker.blocks.context import new_temporary_id
from neops_worker.sdk.engine_client import DeviceTypeDto, PlatformTypeDto


class BaseMockDevice(ABC):
    """Where a test device is and how to log in; ``to_neops_device`` makes it a context's device."""

    @property
    @abstractmethod
    def host(self) -> str:
        """The device's host name (or address), its ``hostname`` in the context."""

    @property
    @abstractmethod
    def ip(self) -> str:
        """The address to connect to."""

    @property
    @abstractmethod
    def username(self) -> str:
        """The login user."""

    @property
    @abstractmethod
    def password(self) -> str:
        """The login password."""

    @property
    @abstractmethod
    def device_type(self) -> str:
        """The network OS (``frr``, ``srlinux``, ``ios``...): the device's vendor and platform."""

    def __str__(self) -> str:
        return f"{self.device_type} device {self.ip} (user {self.username})"

    def to_neops_device(self) -> DeviceTypeDto:
        """This device for a job context, under a new temporary id (its platform under the same id)."""
        device_id = new_temporary_id()
        return DeviceTypeDto(
            id=device_id,
            hostname=self.host,
            ip=self.ip,
            username=self.username,
            password=self.password,
            vendor=self.device_type,
            platform=PlatformTypeDto(id=device_id, short_name=self.device_type),
        )


__all__ = ["BaseMockDevice"]
