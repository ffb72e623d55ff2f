"""WorkflowContext: the run-on entity and the dbUpdates computed from a block's changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from neops_worker import (
    FunctionBlock,
    FunctionBlockParams,
    FunctionBlockResult,
    FunctionBlockResultData,
    Registration,
    WorkflowContext,
    register_function_block,
)
from neops_worker.blocks.context import TEMP_ID_RANGE
from neops_worker.blocks.entities import EntityReference
from neops_worker.discovery import DiscoveredBlock
from neops_worker.engine.wire import JobDefinition
from neops_worker.sdk.workflow import WorkflowContext as SdkContext
from neops_worker.worker.execution import execute_job

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


# --- contexts of 0.43: references with an optional id ----------------------------------------

#: The device of the contract's example execute job (5.6): references with ids, a platform with one.
EXAMPLE_DEVICE = {
    "id": 42,
    "hostname": "core-rtr-01",
    "ip": "10.0.0.1",
    "platform": {"id": 3, "name": "Cisco IOS-XE", "shortName": "iosxe", "vendor": "cisco"},
    "interfaces": [{"id": 7}, {"id": 8}],
    "groups": [{"id": 5}],
}
#: The contract's device whose references and platform carry no id: valid in 0.43, not in 0.42.1.
IDLESS_DEVICE = {
    "id": 42,
    "hostname": "core-rtr-01",
    "platform": {"shortName": "iosxe"},
    "controller": {},
    "groups": [{"id": 5}, {}],
}


def _on(device: dict[str, Any], **context: Any) -> WorkflowContext:
    return WorkflowContext.from_wire({"devices": [device], **context}, "device", device["id"])


def test_the_contract_example_context_parses_with_its_references() -> None:
    """The 5.6 example: a device's groups and interfaces are references, its interfaces point back."""
    interfaces = [{"id": 7, "name": "Te0/0/4", "state": "UP", "device": {"id": 42}}]
    context = _on(EXAMPLE_DEVICE, interfaces=interfaces)
    assert [group.id for group in context.device.groups or []] == [5]
    assert [interface.id for interface in context.device.interfaces or []] == [7, 8]
    assert context.device.platform is not None
    assert context.device.platform.id == 3
    assert context.interfaces[0].device is not None
    assert context.interfaces[0].device.id == 42


def test_references_and_a_platform_without_id_parse() -> None:
    """The id-less example device: no id on its platform, controller and a group; null is as absent."""
    device = _on({**IDLESS_DEVICE, "devices": [{"id": None, "hostname": "r2"}]}).device
    assert [group.id for group in device.groups or []] == [5, None]
    assert device.controller is not None
    assert device.controller.id is None
    assert device.platform is not None
    assert (device.platform.id, device.platform.short_name) == (None, "iosxe")
    assert device.devices is not None
    assert device.devices[0].id is None


def test_a_reference_keeps_the_fields_that_came_with_it() -> None:
    """A reference by host name keeps hostname and ip (as the SDK's creation helpers send them)."""
    group = {"id": 5, "devices": [{"hostname": "r1", "ip": "192.0.2.1"}]}
    context = WorkflowContext.from_wire({"deviceGroups": [group]}, "group", 5)
    (member,) = context.device_group.devices or []
    assert member.model_extra == {"hostname": "r1", "ip": "192.0.2.1"}
    assert member.hostname == "r1"


def test_groups_of_a_0_42_1_device_are_references_with_all_their_fields() -> None:
    """0.42.1 sends whole groups in a device's groups: they parse, id and every field kept."""
    device = _on({"id": 42, "groups": [{"id": 5, "name": "core", "deviceCount": 3, "facts": None}]}).device
    (group,) = device.groups or []
    assert (group.id, group.name, group.model_extra) == (
        5,
        "core",
        {"name": "core", "deviceCount": 3, "facts": None},
    )


@pytest.mark.parametrize(
    "device",
    [
        pytest.param({"hostname": "r1"}, id="device-without-id"),
        pytest.param({"id": 0}, id="device-id-0"),
        pytest.param({"id": 42, "groups": [{"id": 0}]}, id="reference-id-0"),
    ],
)
def test_top_level_entities_still_need_an_id(device: dict[str, Any]) -> None:
    """Only references may lack an id: a device without one, or any id below 1, does not parse."""
    with pytest.raises(ValidationError):
        WorkflowContext.from_wire({"devices": [device]})


def test_db_updates_pass_id_less_references_by() -> None:
    """Changes beside id-less references patch their entity; an untouched reference is no change."""
    context = _on(IDLESS_DEVICE)
    assert context.db_updates().updates == []
    device = context.device
    device.hostname = "core-rtr-02"
    device.groups = [*(device.groups or []), EntityReference(hostname="lab")]
    patches = {u.to_wire()["path"]: u.to_wire()["value"] for u in context.db_updates().updates}
    assert patches == {
        "hostname": "core-rtr-02",
        "groups": [{"id": 5}, {"id": None}, {"id": None, "hostname": "lab"}],
    }


def test_the_sdk_context_gives_the_same_references() -> None:
    """The vendor SDK's view of a context shows a device's groups as the references that came."""
    view = SdkContext({"devices": [IDLESS_DEVICE], "deviceGroups": [], "interfaces": []}, "device", 42)
    assert view.device is not None
    assert [group.id for group in view.device.groups or []] == [5, None]


async def test_a_job_whose_context_has_id_less_references_runs() -> None:
    """Such a context is no reason to fail the job: the block runs and reads the groups that came."""
    job = JobDefinition.model_validate(
        {
            "functionBlockId": GroupCount.registration.fb_id,
            "jobId": "job-refs",
            "context": {"devices": [IDLESS_DEVICE], "deviceGroups": [], "interfaces": []},
            "type": "execute",
            "runOn": "device",
            "entityId": 42,
        }
    )
    block = DiscoveredBlock(GroupCount, GroupCount.registration, __name__, Path(__file__))
    outcome = await execute_job(job, lambda _: block)
    assert (outcome.outcome, outcome.result.result.message) == ("success", "2 group(s), 1 with an id")


@register_function_block(Registration(name="group_count", package="tests.context", description="counts"))
class GroupCount(FunctionBlock[FunctionBlockParams, FunctionBlockResultData]):
    """Counts the groups of the device it runs on."""

    def run(
        self, params: FunctionBlockParams, context: WorkflowContext
    ) -> FunctionBlockResult[FunctionBlockResultData]:
        """Say how many groups, and how many with an id."""
        groups = context.device.groups or []
        with_id = sum(group.id is not None for group in groups)
        return FunctionBlockResult(success=True, message=f"{len(groups)} group(s), {with_id} with an id")
