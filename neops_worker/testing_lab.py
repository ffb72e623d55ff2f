"""The vendor's remote lab in block tests: its nodes as devices, and a skip where there is no lab.

The remote lab (the ``neops_remote_lab`` package: a lab server, its client, and the pytest fixture
``remote_lab_fixture(topology, reuse_lab=...)``) hands a test the lab's nodes as ``netlab inspect``
describes them. ``lab_devices`` turns them into devices of a job context, so that ``run_block``
runs a block on the lab as the worker would::

    # conftest.py
    from neops_remote_lab.testing.fixture import remote_lab_fixture

    two_routers = remote_lab_fixture("topologies/two_routers.yml", reuse_lab=True)

    # test_show_version.py
    from neops_worker.testing import run_block
    from neops_worker.testing_lab import lab_devices, requires_lab

    @requires_lab
    def test_show_version_on_the_lab(two_routers) -> None:
        devices = lab_devices(two_routers)
        run = run_block(ShowVersion, {}, context={"devices": devices}, entity_id=devices[0].id)
        assert run.success, run.message

A node becomes a device as the vendor SDK maps it: its management IPv4 address (``mgmt.ipv4``) is
the device's ``ip`` and ``hostname``, ``ansible_user`` and ``ansible_ssh_pass`` (empty when absent)
its ``username`` and ``password``, ``ansible_network_os`` its ``vendor`` and its platform's
``short_name``.

``requires_lab`` skips a test where no lab can be reached: ``REMOTE_LAB_URL`` is unset, or the lab
package is not installed (the lab's own fixture reports those tests as errors). This module imports
neither the lab package nor, until a test is decorated, pytest.
"""

from __future__ import annotations

import importlib.util
import os
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from neops_worker.blocks.entities import Device, Platform

#: The lab client's setting: the base URL of the lab server.
LAB_URL_VARIABLE = "REMOTE_LAB_URL"
#: The vendor's remote lab package (its client and pytest fixture; Python >= 3.12).
LAB_PACKAGE = "neops_remote_lab"

T = TypeVar("T")


class InspectedNode(Protocol):
    """A lab node as the lab hands it over (the lab package's ``DeviceInfoDto``): name and inspect data."""

    @property
    def name(self) -> str:
        """The node's name in the topology."""

    @property
    def raw(self) -> Mapping[str, Any]:
        """What ``netlab inspect`` says of the node."""


@dataclass(frozen=True)
class LabNode:
    """What a device needs of a lab node, taken from its ``netlab inspect`` data."""

    name: str
    #: The management IPv4 address (``mgmt.ipv4``).
    address: str
    #: ``ansible_user``.
    username: str
    #: ``ansible_ssh_pass``; empty when the node has none.
    password: str = field(repr=False)
    #: ``ansible_network_os`` (``frr``, ``srlinux``, ``ios``...).
    network_os: str
    #: The whole ``netlab inspect`` data, for what the device does not carry.
    raw: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_inspect(cls, name: str, data: Mapping[str, Any]) -> LabNode:
        """The node ``name`` from its inspect data; a missing field raises ``ValueError`` naming it."""
        return cls(
            name=name,
            address=_required(name, data, ("mgmt", "ipv4"), "ip and hostname"),
            username=_required(name, data, ("ansible_user",), "username"),
            password=str(data.get("ansible_ssh_pass") or ""),
            network_os=_required(name, data, ("ansible_network_os",), "vendor and platform"),
            raw=data,
        )

    @classmethod
    def of(cls, node: InspectedNode) -> LabNode:
        """The node as the lab handed it over (``DeviceInfoDto``: ``name`` and ``raw``)."""
        return cls.from_inspect(node.name, node.raw)


def _required(node: str, data: Mapping[str, Any], keys: tuple[str, ...], purpose: str) -> str:
    value: Any = data
    for key in keys:
        if not isinstance(value, Mapping) or value.get(key) in (None, ""):
            raise ValueError(
                f"lab node {node!r}: its 'netlab inspect' data has no {'.'.join(keys)}, "
                f"which gives the device its {purpose}"
            )
        value = value[key]
    return str(value)


def lab_device(node: InspectedNode | LabNode, id: int = 1) -> Device:
    """The lab node ``node`` as the device ``id`` of a job context."""
    found = node if isinstance(node, LabNode) else LabNode.of(node)
    return Device(
        id=id,
        hostname=found.address,
        ip=found.address,
        username=found.username,
        password=found.password,
        vendor=found.network_os,
        platform=Platform(short_name=found.network_os),
    )


def lab_devices(nodes: Iterable[InspectedNode | LabNode], first_id: int = 1) -> list[Device]:
    """The lab's nodes as devices of a job context, numbered from ``first_id`` in the lab's order."""
    return [lab_device(node, first_id + index) for index, node in enumerate(nodes)]


def lab_unavailable() -> str | None:
    """Why no lab test can run here (no lab package, no ``REMOTE_LAB_URL``); ``None`` when one can."""
    if importlib.util.find_spec(LAB_PACKAGE) is None:
        return (
            f"the remote lab package ({LAB_PACKAGE}) is not installed: "
            "pip install neops-remote-lab (Python >= 3.12) to run lab tests"
        )
    if not os.environ.get(LAB_URL_VARIABLE, "").strip():
        return (
            f"no remote lab configured: set {LAB_URL_VARIABLE} to the lab server's URL "
            "(e.g. http://lab.example.net:8000) to run lab tests"
        )
    return None


def requires_lab(test: T) -> T:
    """Skip ``test`` (a test function or class) where no lab can be reached (see ``lab_unavailable``)."""
    import pytest

    reason = lab_unavailable()
    return typing.cast(T, pytest.mark.skipif(reason is not None, reason=reason or "")(test))


__all__ = [
    "LAB_PACKAGE",
    "LAB_URL_VARIABLE",
    "InspectedNode",
    "LabNode",
    "lab_device",
    "lab_devices",
    "lab_unavailable",
    "requires_lab",
]
