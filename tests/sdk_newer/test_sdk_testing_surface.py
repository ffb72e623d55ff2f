"""``neops_worker.sdk.testing``: the SDK's test decorators and test case, run through our runner.

The blocks are declared in a fresh module per test (the decorators add their tests to the block's
module); the generated tests are called directly, as pytest would call them.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
import types
from dataclasses import dataclass
from typing import Any

import pytest

from neops_worker.sdk.engine_client import DeviceTypeDto
from neops_worker.sdk.testing.base.function_block_test_case import (
    FunctionBlockTestCase,
    create_safe_test_id,
    fb_test_case,
    fb_test_case_with_lab,
)
from neops_worker.sdk.testing.devices.remote_lab_device import RemoteLabDevice
from neops_worker.sdk.testing.factories.context_factory import create_workflow_context

PROBES = """
from neops_worker.sdk.function_block.function_block import (
    FunctionBlock, FunctionBlockParams, FunctionBlockResult, FunctionBlockResultData,
)
from neops_worker.sdk.registry.decorator import register_function_block
from neops_worker.sdk.registry.registration import Registration


class Params(FunctionBlockParams):
    text: str = "abc"


class Length(FunctionBlockResultData):
    length: int


class Place(FunctionBlockResultData):
    hostname: str
    ip: str | None
    vendor: str | None
    platform: str | None
    devices: int


@register_function_block(Registration(name="count", package="fb.probes.sdk", description="d"))
class Count(FunctionBlock[Params, Length]):
    async def acquire(self, params):
        raise NotImplementedError

    async def run(self, params, context):
        if params.text == "boom":
            raise RuntimeError("boom")
        counted = Length(length=len(params.text))
        return FunctionBlockResult(success=bool(params.text), message="counted", data=counted)


@register_function_block(
    Registration(name="where", package="fb.probes.sdk", description="d", run_on="device")
)
class Where(FunctionBlock[Params, Place]):
    async def acquire(self, params):
        raise NotImplementedError

    async def run(self, params, context):
        device = context.device
        device.hostname = "renamed"
        short = device.platform.short_name if device.platform else None
        found = Place(hostname=device.hostname, ip=device.ip, vendor=device.vendor, platform=short,
                      devices=len(context.devices))
        return FunctionBlockResult(success=True, data=found)
"""


@dataclass
class Node:
    """A lab node as the lab hands it over (its ``DeviceInfoDto``: a name and the inspect data)."""

    name: str
    raw: dict[str, Any]


def inspect_data(address: str, **more: Any) -> dict[str, Any]:
    """``netlab inspect`` data of an FRR node at ``address``."""
    return {
        "mgmt": {"ipv4": address},
        "ansible_user": "admin",
        "ansible_network_os": "frr",
        **more,
    }


@pytest.fixture
def probes(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """A fresh module declaring the blocks ``Count`` (global) and ``Where`` (device)."""
    module = types.ModuleType("sdk_surface_probes")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    exec(compile(PROBES, "<probes>", "exec"), module.__dict__)
    return module


def generated(module: types.ModuleType) -> dict[str, Any]:
    """The tests the decorators added to ``module``."""
    return {name: value for name, value in vars(module).items() if name.startswith("test_")}


def marks(test: Any) -> list[str]:
    """The names of the pytest marks on ``test``."""
    return [mark.name for mark in test.pytestmark]


def test_tests_are_named_and_marked_as_the_sdk_names_and_marks_them(probes: types.ModuleType) -> None:
    """test_<class>_<safe id>; function_block, plus remote_lab and the no-lab skip for a lab case."""
    context = create_workflow_context(run_on="global")
    assert fb_test_case("Counts Ünïcode & co.", probes.Params(), context)(probes.Count) is probes.Count
    on_r1: Any = fb_test_case_with_lab(
        "On R1!", probes.Params(), remote_lab_fixture="two_routers", assertions=[]
    )
    assert on_r1(probes.Where) is probes.Where
    tests = generated(probes)
    assert sorted(tests) == ["test_count_counts__n_code___co_", "test_where_on_r1_"]
    assert marks(tests["test_count_counts__n_code___co_"]) == ["function_block"]
    assert marks(tests["test_where_on_r1_"]) == ["function_block", "remote_lab", "skipif"]
    assert list(inspect.signature(tests["test_where_on_r1_"]).parameters) == ["two_routers"]
    assert create_safe_test_id("A-b.C d_9") == "a_b_c_d_9"


def test_a_lab_case_must_check_something(probes: types.ModuleType) -> None:
    """Neither expected data nor assertions: refused when the module is imported, as by the SDK."""
    with pytest.raises(ValueError, match="give expected_result_data or assertions"):
        fb_test_case_with_lab("unchecked", probes.Params())


def test_without_pytest_the_decorators_do_nothing(
    probes: types.ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where pytest is not installed (a worker's image) the class comes back as it was, no test added."""
    monkeypatch.setitem(sys.modules, "pytest", None)
    context = create_workflow_context(run_on="global")
    assert fb_test_case("x", probes.Params(), context)(probes.Count) is probes.Count
    assert fb_test_case_with_lab("unchecked", probes.Params())(probes.Where) is probes.Where
    assert generated(probes) == {}


def test_the_generated_test_runs_the_block_and_checks_its_result(probes: types.ModuleType) -> None:
    """Expected data and assertions hold: the test passes; one that does not hold fails it."""
    context = create_workflow_context(run_on="global")
    good = [lambda result: result.message == "counted"]
    fb_test_case(
        "good", probes.Params(), context, expected_result_data=probes.Length(length=3), assertions=good
    )(probes.Count)
    fb_test_case(
        "bad",
        probes.Params(),
        context,
        assertions=[lambda result: result.data is not None and result.data.length == 4],
    )(probes.Count)
    tests = generated(probes)
    tests["test_count_good"]()
    with pytest.raises(
        AssertionError, match=r"(?s)^Count \(bad\): assertion .*length == 4.* failed; the result: "
    ):
        tests["test_count_bad"]()


def test_a_block_that_raises_fails_even_a_case_that_expects_failure(probes: types.ModuleType) -> None:
    """As in the SDK (which lets the exception through), a raise is never the expected failure."""
    context = create_workflow_context(run_on="global")
    failing = FunctionBlockTestCase(probes.Count, probes.Params(text=""), context, succeeds=False)
    assert asyncio.run(failing.execute()).success is False
    raising = FunctionBlockTestCase(probes.Count, probes.Params(text="boom"), context, succeeds=False)
    with pytest.raises(AssertionError, match="the job ended 'error' without a result: RuntimeError: boom"):
        asyncio.run(raising.execute())


def test_the_block_works_on_a_copy_of_the_given_context(probes: types.ModuleType) -> None:
    """The block renames its device; the context given to the test case keeps its hostname."""
    context = create_workflow_context(
        run_on="device", entity_id=7, devices=[DeviceTypeDto(id=7, hostname="r7")]
    )
    result = asyncio.run(FunctionBlockTestCase(probes.Where, probes.Params(), context).execute())
    assert result.data is not None
    assert result.data.hostname == "renamed"
    assert context.devices[0].hostname == "r7"


def test_the_lab_test_runs_on_the_first_node_of_its_fixture(probes: types.ModuleType) -> None:
    """The fixture's nodes become devices after the base devices; a device job runs on the first node."""
    base = [DeviceTypeDto(id=1, hostname="jump-host")]
    checks = [
        lambda result: (
            result.data
            == probes.Place(hostname="renamed", ip="192.0.2.11", vendor="frr", platform="frr", devices=3)
        )
    ]
    decorate = fb_test_case_with_lab(
        "lab", probes.Params(), "device", base, remote_lab_fixture="lab", assertions=checks
    )
    decorate(probes.Where)
    nodes = [Node("r1", inspect_data("192.0.2.11")), Node("r2", inspect_data("192.0.2.12"))]
    generated(probes)["test_where_lab"](lab=nodes)


def test_remote_lab_device_maps_a_node_as_the_sdk_does() -> None:
    """Management IPv4 as host and ip, ansible_* as login and type; the device under a temporary id."""
    lab = RemoteLabDevice.from_dto(Node("r1", inspect_data("192.0.2.11", ansible_ssh_pass="pw")))
    assert (lab.name, lab.host, lab.ip, lab.username, lab.password, lab.device_type) == (
        "r1",
        "192.0.2.11",
        "192.0.2.11",
        "admin",
        "pw",
        "frr",
    )
    device = lab.to_neops_device()
    assert device.id >= 10_000_000
    assert (device.hostname, device.ip, device.vendor, device.username, device.password) == (
        "192.0.2.11",
        "192.0.2.11",
        "frr",
        "admin",
        "pw",
    )
    assert device.platform is not None
    assert (device.platform.id, device.platform.short_name) == (device.id, "frr")
    assert RemoteLabDevice("r2", inspect_data("192.0.2.12")).password == ""
    with pytest.raises(ValueError, match=r"lab node 'r3': its 'netlab inspect' data has no ansible_user"):
        RemoteLabDevice("r3", {"mgmt": {"ipv4": "192.0.2.13"}, "ansible_network_os": "frr"})
