"""``RemoteLabDevice``: a node of the vendor's remote lab, as ``netlab inspect`` describes it, as a device.

What a node's inspect data gives the device is :mod:`neops_worker.testing_lab`'s mapping (management
IPv4 for ``ip`` and ``hostname``, ``ansible_user``, ``ansible_ssh_pass``, ``ansible_network_os``).
The lab package is not needed: a node is anything with ``name`` and ``raw``, as its ``DeviceInfoDto``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from neops_worker.sdk.testing.devices.base_mock_device import BaseMockDevice
from neops_worker.testing_lab import InspectedNode, LabNode


class RemoteLabDevice(BaseMockDevice):
    """A lab node; its whole inspect data stays in ``raw``. Missing fields raise ``ValueError``."""

    @staticmethod
    def from_dto(netlab_device: InspectedNode) -> RemoteLabDevice:
        """The node as the lab hands it over (``DeviceInfoDto``)."""
        return RemoteLabDevice(netlab_device.name, netlab_device.raw)

    def __init__(self, node_name: str, inspect_data: Mapping[str, Any]) -> None:
        self._node = LabNode.from_inspect(node_name, inspect_data)
        self.raw = inspect_data

    @property
    def host(self) -> str:
        """The management IPv4 address (the SDK names the device by it)."""
        return self._node.address

    @property
    def ip(self) -> str:
        """The management IPv4 address."""
        return self._node.address

    @property
    def username(self) -> str:
        """``ansible_user``."""
        return self._node.username

    @property
    def password(self) -> str:
        """``ansible_ssh_pass``, empty when the node has none."""
        return self._node.password

    @property
    def device_type(self) -> str:
        """``ansible_network_os``."""
        return self._node.network_os

    @property
    def name(self) -> str:
        """The node's name in the topology."""
        return self._node.name

    def __repr__(self) -> str:
        return f"<RemoteLabDevice {self.name}: {self.username}@{self.host} ({self.device_type})>"


__all__ = ["RemoteLabDevice"]
