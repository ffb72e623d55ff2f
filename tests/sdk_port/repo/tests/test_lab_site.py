"""Lab site: creation wrappers, the group change, rollback."""

# mypy: ignore-errors
from blocks.acme.lab_site import LabSite, LabSiteParams
from neops_worker_sdk.testing.factories.context_factory import create_workflow_context
from neops_worker_sdk.workflow import DeviceField
from neops_workflow_engine_client import DeviceGroupTypeDto


def site():
    """A context running on group 5."""
    group = DeviceGroupTypeDto(id=5, name="zrh", description="Zurich")
    return group, create_workflow_context(run_on="group", entity_id=5, device_groups=[group])


async def test_adds_a_router_and_a_lab_group():
    """The router is created unless its hostname and ip exist; the lab group always."""
    group, context = site()
    params = LabSiteParams(hostname="lab-rtr-01", ip="192.0.2.1")
    result = await LabSite().execute_function_block(params=params, context=context, propagate_exceptions=True)
    assert result.success, result.message
    (router,) = context.devices
    assert router.id == result.data.device_id
    assert router.skip_if_identifier_exists is True
    assert list(router.identifier_fields) == [DeviceField.hostname, DeviceField.ip]
    lab = context.device_groups[-1]
    assert (lab.name, lab.skip_if_identifier_exists, list(lab.identifier_fields)) == ("zrh-lab", False, [])
    assert group.description == "Lab router lab-rtr-01"


async def test_rollback_restores_the_description():
    """rollback_function_block puts the previous description back."""
    group, context = site()
    params = LabSiteParams(hostname="lab-rtr-01", ip="192.0.2.1", previous_description="Zurich")
    group.description = "Lab router lab-rtr-01"
    result = await LabSite().rollback_function_block(params=params, context=context)
    assert result.success
    assert group.description == "Zurich"
