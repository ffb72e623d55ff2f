"""WorkflowContext: the run-on entity and the dbUpdates computed from a block's changes."""

from __future__ import annotations

import pytest

from neops_worker import WorkflowContext
from neops_worker.blocks.context import TEMP_ID_RANGE

CONTEXT = {
    "devices": [
        {
            "id": 42,
            "hostname": "core-rtr-01",
            "ip": "10.0.0.1",
            "softwareRelease": "17.6.5",
            "facts": {"site": "zrh"},
            "platform": {"id": 3, "shortName": "ios"},
            "updatedAt": "2025-01-01T00:00:00Z",
        },
    ],
    "deviceGroups": [{"id": 5, "name": "core"}],
    "interfaces": [
        {"id": 7, "name": "Te0/0/4", "state": "UP"},
        {"id": 8, "name": "Te0/0/5", "state": "DOWN"},
    ],
}


def test_run_on_entity() -> None:
    """The job's entityId selects the device/interface/group it runs on."""
    assert WorkflowContext.from_wire(CONTEXT, "device", 42).device.hostname == "core-rtr-01"
    assert WorkflowContext.from_wire(CONTEXT, "interface", 8).interface.name == "Te0/0/5"
    assert WorkflowContext.from_wire(CONTEXT, "group", 5).device_group.name == "core"
    with pytest.raises(LookupError, match="not in the job context"):
        WorkflowContext.from_wire(CONTEXT, "device", 99).validate_run_on()
    with pytest.raises(LookupError, match="runs on 'global'"):
        _ = WorkflowContext.from_wire(CONTEXT, "global", None).device


def test_no_change_no_updates() -> None:
    """An untouched context yields no dbUpdates."""
    assert WorkflowContext.from_wire(CONTEXT, "device", 42).db_updates().updates == []


def test_protocol_example_changes() -> None:
    """The change set of protocol section 6.3: patches, a create with the helper, a delete."""
    context = WorkflowContext.from_wire(CONTEXT, "device", 42)
    device = context.device
    device.software_release = "15.9(3)M"
    device.ip = None
    device.facts = {"site": "zrh", "uptime_s": 86400}
    device.updated_at = "2026-01-01T00:00:00Z"  # engine-managed: never patched
    context.interfaces[:] = [i for i in context.interfaces if i.id != 8]
    new = context.create_interface(name="Gi0/3", state="UP", device={"id": 42})
    updates = [u.to_wire() for u in context.db_updates().updates]
    (create,) = [u for u in updates if u["operation"] == "create"]
    interface_ops = [u["operation"] for u in updates if u["entity"] == "interface"]
    assert interface_ops == ["create", "delete"]
    assert create["id"] == new.id
    assert TEMP_ID_RANGE[0] <= new.id <= TEMP_ID_RANGE[1]
    assert create["identifierFields"] == ["name"]
    assert create["skipIfIdentifierExists"] is True
    assert create["data"]["device"] == {"id": 42}
    assert create["data"]["facts"] is None
    assert "name_sorting" in create["data"]
    assert {"operation": "delete", "entity": "interface", "id": 8} in updates
    patches = {(u["entity"], u["id"], u["path"]): u["value"] for u in updates if u["operation"] == "patch"}
    assert patches == {
        ("device", 42, "facts"): {"site": "zrh", "uptime_s": 86400},
        ("device", 42, "ip"): None,
        ("device", 42, "software_release"): "15.9(3)M",
    }
    kinds = [u["entity"] for u in updates]
    assert kinds == sorted(kinds, key=["device", "interface", "group"].index)


def test_nested_values_are_snake_case_and_whole() -> None:
    """A change inside an attribute replaces the whole attribute, nested keys in snake_case."""
    context = WorkflowContext.from_wire(CONTEXT, "device", 42)
    assert context.device.platform is not None
    context.device.platform.name = "Cisco IOS"
    (update,) = context.db_updates().updates
    assert update.to_wire()["value"] == {"id": 3, "name": "Cisco IOS", "short_name": "ios", "vendor": None}


def test_in_place_mutation_of_facts_is_seen() -> None:
    """Mutating a dict attribute in place is a change too (the snapshot is a deep copy)."""
    context = WorkflowContext.from_wire(CONTEXT, "device", 42)
    assert context.device.facts is not None
    context.device.facts["uptime_s"] = 1
    (update,) = context.db_updates().updates
    assert update.to_wire()["path"] == "facts"


def test_unknown_fields_are_ignored_and_camel_case_accepted() -> None:
    """Newer engines' fields do not break parsing; wire names map to attributes."""
    context = WorkflowContext.from_wire(
        {
            "devices": [{"id": 1, "softwareRelease": "x", "brandNewField": 1}],
            "deviceGroups": [],
            "interfaces": [],
        },
        "device",
        1,
    )
    assert context.device.software_release == "x"
    assert context.db_updates().updates == []
