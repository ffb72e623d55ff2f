"""``neops_worker.testing``: running blocks from plain dicts, as the worker would."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from function_blocks.examples.device_release import SetReleaseParams, SetSoftwareRelease
from function_blocks.examples.echo import Echo
from neops_worker import Device, FunctionBlock
from neops_worker.discovery import discover
from neops_worker.testing import (
    BlockRunner,
    block_of,
    device,
    device_group,
    interface,
    job_context,
    run_block,
    run_block_async,
)
from neops_worker.testing_lab import LAB_URL_VARIABLE, LabNode, lab_devices, lab_unavailable
from tests.devtools.blockdirs import BUNDLED, block_source, write_dir
from tests.integration.commands import clean_environment

CHANGES = """from neops_worker import (
    FunctionBlock, FunctionBlockParams, FunctionBlockResult, FunctionBlockResultData,
    Registration, WorkflowContext, register_function_block,
)


@register_function_block(
    Registration(name="rewire", package="devtools.kit", description="d", run_on="device")
)
class Rewire(FunctionBlock[FunctionBlockParams, FunctionBlockResultData]):
    def run(self, params: FunctionBlockParams, context: WorkflowContext) -> FunctionBlockResult:
        context.device.ip = None
        context.interfaces[:] = [i for i in context.interfaces if i.id != 8]
        context.create_interface(name="Gi0/3", state="UP", device={"id": context.device.id})
        return FunctionBlockResult(success=True)
"""


def test_entity_helpers_check_attribute_names() -> None:
    """device()/interface()/device_group() give wire dicts and refuse unknown attributes."""
    assert device(42, hostname="r1", software_release="17.6") == {
        "id": 42,
        "hostname": "r1",
        "softwareRelease": "17.6",
    }
    assert interface(7, name="Gi0/1", device={"id": 42}) == {"id": 7, "name": "Gi0/1", "device": {"id": 42}}
    assert device_group(5, name="core") == {"id": 5, "name": "core"}
    with pytest.raises(TypeError, match="Device has no attribute hostnme"):
        device(1, hostnme="typo")


def test_job_context_builds_the_wire_lists() -> None:
    """job_context() puts entities in the lists a job context has."""
    assert job_context(devices=[device(1)], device_groups=[device_group(2)]) == {
        "devices": [{"id": 1}],
        "deviceGroups": [{"id": 2}],
        "interfaces": [],
    }


def test_context_accepts_entity_models_and_params_models() -> None:
    """Entity models in the context and a parameter model instance work as well as dicts."""
    params = SetReleaseParams(software_release="17.9")
    run = run_block(SetSoftwareRelease, params, {"devices": [Device(id=3, hostname="r3")]})
    assert run.success
    assert run.job.entity_id == 3
    assert run.data == {"hostname": "r3", "previous_release": None, "software_release": "17.9"}


def test_changes_become_creates_deletes_and_patches(tmp_path: Path) -> None:
    """A block that creates, removes and edits entities yields the matching dbUpdates."""
    root = write_dir(tmp_path / "kit_blocks", {"rewire.py": CHANGES})
    context = job_context(
        devices=[device(42, ip="10.0.0.1")], interfaces=[interface(7, name="a"), interface(8, name="b")]
    )
    run = BlockRunner([root]).run("devtools.kit/rewire:1.0.0", {}, context)
    assert run.success, run.message
    # Entity type by entity type (device, interface, group); creates, then deletes, then patches.
    patch, create, delete = run.db_updates
    assert patch == {"operation": "patch", "entity": "device", "id": 42, "path": "ip", "value": None}
    assert create["operation"] == "create"
    assert create["entity"] == "interface"
    assert create["data"]["name"] == "Gi0/3"
    assert create["data"]["device"] == {"id": 42}
    assert create["identifierFields"] == ["name"]
    assert create["skipIfIdentifierExists"] is True
    assert delete == {"operation": "delete", "entity": "interface", "id": 8}


def test_blocks_by_id_from_directories(tmp_path: Path) -> None:
    """A runner with directories finds blocks there by full id, package/name or name."""
    root = write_dir(tmp_path / "kit_dir", {"probe.py": block_source(package="devtools.kitdir")})
    runner = BlockRunner([root])
    for reference in ("devtools.kitdir/probe:1.0.0", "devtools.kitdir/probe", "probe"):
        assert runner.run(reference, {"text": "abc"}).data == {"length": 3}


def test_unknown_and_ambiguous_ids_raise_lookup_error(tmp_path: Path) -> None:
    """An id no imported block has, or a name two blocks share, is a LookupError."""
    with pytest.raises(LookupError, match=r"no function block 'devtools\.kit/none'"):
        run_block("devtools.kit/none")
    root = write_dir(
        tmp_path / "twins",
        {
            "a.py": block_source(package="twin.a", name="twin"),
            "b.py": block_source(package="twin.b", name="twin"),
        },
    )
    with pytest.raises(LookupError, match="'twin' is ambiguous"):
        BlockRunner([root]).run("twin")


def test_one_declaration_imported_twice_is_one_block() -> None:
    """Discovering a subdirectory imports a block a second time; its id still names one block."""
    discover([BUNDLED / "examples"])
    assert run_block("fb.examples.neops/echo:1.0.0", {"message": "x"}).success


def test_a_class_must_be_registered() -> None:
    """A FunctionBlock subclass without @register_function_block cannot be run."""

    class Unregistered(FunctionBlock[SetReleaseParams, SetReleaseParams]):  # type: ignore[type-var]
        pass

    with pytest.raises(TypeError, match="is not a function block registered"):
        block_of(Unregistered)


async def test_async_tests_use_run_block_async() -> None:
    """Inside a running event loop, run_block_async runs the block the same way."""
    run = await run_block_async(Echo, {"message": "hi"})
    assert run.data == {"echoed": "hi"}


def test_the_kit_does_not_import_the_daemon() -> None:
    """Importing the testing kit pulls in neither httpx nor the worker lifecycle."""
    daemon = (
        "httpx",
        "tenacity",
        "neops_worker.worker.lifecycle",
        "neops_worker.worker.jobprocess",
        "neops_worker.engine.client",
        "neops_worker.runtime",
    )
    code = f"import sys, neops_worker.testing; print(sorted(set({daemon!r}) & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# --- the remote lab -----------------------------------------------------------------------


@dataclass
class Node:
    """A lab node as the lab hands it over (its ``DeviceInfoDto``: a name and the inspect data)."""

    name: str
    raw: dict[str, Any]


def frr_node(name: str, address: str, **more: Any) -> Node:
    """An FRR node at ``address`` as ``netlab inspect`` describes one."""
    raw = {"mgmt": {"ipv4": address}, "ansible_user": "admin", "ansible_network_os": "frr", **more}
    return Node(name, raw)


def test_lab_nodes_become_devices_as_the_sdk_maps_them() -> None:
    """Management IPv4 as ip and hostname, ansible_* as login, vendor and platform; ids counted up."""
    r1, r2 = lab_devices([frr_node("r1", "192.0.2.11", ansible_ssh_pass="pw"), frr_node("r2", "192.0.2.12")])
    assert r1.model_dump(exclude_none=True) == {
        "id": 1,
        "hostname": "192.0.2.11",
        "ip": "192.0.2.11",
        "username": "admin",
        "password": "pw",
        "vendor": "frr",
        "platform": {"short_name": "frr"},
    }
    assert (r2.id, r2.ip, r2.password) == (2, "192.0.2.12", "")
    assert [device.id for device in lab_devices([frr_node("r1", "192.0.2.11")], first_id=40)] == [40]


def test_a_node_without_what_a_device_needs_is_named() -> None:
    """A node whose inspect data lacks the management address fails, naming the node and the key."""
    node = Node("r9", {"ansible_user": "admin", "ansible_network_os": "frr", "mgmt": {"mac": "x"}})
    with pytest.raises(ValueError, match=r"lab node 'r9': its 'netlab inspect' data has no mgmt.ipv4, which"):
        LabNode.of(node)


def test_run_block_runs_a_block_on_a_lab_node() -> None:
    """The lab's devices go into run_block's context as they are; the block sees the node's address."""
    devices = lab_devices([frr_node("r1", "192.0.2.11"), frr_node("r2", "192.0.2.12")])
    run = run_block(SetSoftwareRelease, {"software_release": "10.2"}, {"devices": devices}, entity_id=2)
    assert run.success, run.message
    assert run.data == {"hostname": "192.0.2.12", "previous_release": None, "software_release": "10.2"}


def test_without_the_lab_package_a_lab_url_is_not_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    """REMOTE_LAB_URL set but no neops_remote_lab: no lab can be reached; the reason says to install it."""
    monkeypatch.setitem(sys.modules, "neops_remote_lab", None)
    monkeypatch.setenv(LAB_URL_VARIABLE, "http://127.0.0.1:9")
    assert lab_unavailable() == (
        "the remote lab package (neops_remote_lab) is not installed: "
        "pip install neops-remote-lab (Python >= 3.12) to run lab tests"
    )


LAB_TEST = """from neops_worker.testing_lab import requires_lab


@requires_lab
def test_on_the_lab():
    raise AssertionError("ran without a lab")
"""


def test_requires_lab_skips_where_no_lab_is_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without REMOTE_LAB_URL a lab test is SKIPPED with the reason (the lab's own fixture says ERROR)."""
    monkeypatch.delenv(LAB_URL_VARIABLE, raising=False)
    (tmp_path / "test_lab.py").write_text(LAB_TEST)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "test_lab.py"],
        cwd=tmp_path,
        env=clean_environment(),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 skipped" in run.stdout
    assert f"test_lab.py:4: {lab_unavailable()}" in run.stdout
