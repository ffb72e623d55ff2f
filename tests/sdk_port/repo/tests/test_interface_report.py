"""Interface report: acquire, context, entity creation and the device's facts."""

# mypy: ignore-errors
from blocks.acme.interface_report import InterfaceReport, InterfaceReportParams
from neops_worker_sdk.registry import registry
from neops_worker_sdk.testing.factories.context_factory import create_workflow_context
from neops_worker_sdk.workflow import InterfaceField
from neops_workflow_engine_client import DeviceTypeDto, EntityReferenceDto, InterfaceTypeDto

REPORT = "fb.acme.examples/interface_report:1.2.0"


def router():
    """A router with three interfaces, one of them down and none a loopback."""
    device = DeviceTypeDto(id=42, hostname="core-rtr-01", ip="10.0.0.1", facts={"site": "zrh"})
    interfaces = [
        InterfaceTypeDto(id=7, name="Gi0/1", state="UP", device=EntityReferenceDto(id=42)),
        InterfaceTypeDto(id=8, name="Gi0/2", state="DOWN", device=EntityReferenceDto(id=42)),
        InterfaceTypeDto(id=9, name="Te1/1", state="UP", device=EntityReferenceDto(id=42)),
    ]
    return device, interfaces


async def test_reports_and_creates_the_loopback():
    """Interfaces are counted by state, the counts become facts, the missing loopback is created."""
    device, interfaces = router()
    context = create_workflow_context(run_on="device", entity_id=42, devices=[device], interfaces=interfaces)
    result = await InterfaceReport().execute_function_block(
        params=InterfaceReportParams(name_prefix="Gi"), context=context, propagate_exceptions=True
    )
    assert result.success, result.message
    assert result.message == "core-rtr-01: 1 up, 1 down"
    assert result.data.up == ["Gi0/1"]
    assert result.data.down == ["Gi0/2"]
    assert result.data.created == ["Loopback0"]
    assert device.facts == {"site": "zrh", "interfaces_up": 1, "interfaces_down": 1}
    loopback = context.interfaces[-1]
    assert loopback.name == "Loopback0"
    assert loopback.skip_if_identifier_exists is True
    assert list(loopback.identifier_fields) == [InterfaceField.name]
    assert loopback.id >= 10_000_000
    assert context.compute_db_updates() is not None


async def test_no_device_on_a_global_job():
    """Run on no device, the block says so instead of failing on None."""
    result = await InterfaceReport().execute_function_block(
        params=InterfaceReportParams(name_prefix="Gi"), context=create_workflow_context(run_on="global")
    )
    assert not result.success
    assert result.message == "No device found"


async def test_acquire_searches_by_prefix_once_it_is_known():
    """A resolved prefix narrows the search; an unresolved one searches everything."""
    _, registration, _ = registry.function_blocks[REPORT]
    block = InterfaceReport()
    known = block.parse_acquire_parameters_from_dto({"name_prefix": "Gi"}, registration)
    unknown = block.parse_acquire_parameters_from_dto({"name_prefix": None}, registration)
    assert unknown.unresolved == frozenset({"name_prefix"})
    context_acquire, search = (await block.acquire(known)).acquires
    assert (context_acquire.type, context_acquire.entity, context_acquire.filter) == (
        "context",
        "device",
        "[0]",
    )
    assert (search.type, search.entity, search.query, search.limit) == (
        "elastic",
        "interface",
        "name:Gi*",
        100,
    )
    assert (await block.acquire(unknown)).acquires[1].query == "*"
