"""``neops_worker.testing``: running blocks from plain dicts, as the worker would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
from tests.devtools.blockdirs import BUNDLED, block_source, write_dir

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
