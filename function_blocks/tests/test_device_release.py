"""The set_software_release block: a device block that changes the inventory, with acquire and rollback."""

from __future__ import annotations

from function_blocks.examples.device_release import SetSoftwareRelease
from neops_worker.testing import device, run_block

ROUTER = device(42, hostname="core-rtr-01", software_release="17.6.5", facts={"site": "zrh"})


def test_execute_patches_the_release_and_the_facts() -> None:
    """The changed device attributes become patch dbUpdates with snake_case paths, nothing else."""
    run = run_block(SetSoftwareRelease, {"software_release": "17.9.4a"}, {"devices": [ROUTER]})
    assert run.success
    assert run.db_updates == [
        {
            "operation": "patch",
            "entity": "device",
            "id": 42,
            "path": "facts",
            "value": {"site": "zrh", "release_source": "neops_worker example"},
        },
        {"operation": "patch", "entity": "device", "id": 42, "path": "software_release", "value": "17.9.4a"},
    ]


def test_execute_reports_the_change_in_its_data() -> None:
    """The result data names the device and both releases."""
    run = run_block(SetSoftwareRelease, {"software_release": "17.9.4a"}, {"devices": [ROUTER]})
    assert run.data == {
        "hostname": "core-rtr-01",
        "previous_release": "17.6.5",
        "software_release": "17.9.4a",
    }
    assert run.message == "Software release of core-rtr-01 set to 17.9.4a"


def test_execute_needs_its_device_in_the_context() -> None:
    """A device job whose entity is not in the context is rejected before the block runs."""
    run = run_block(SetSoftwareRelease, {"software_release": "1"}, {"devices": [ROUTER]}, entity_id=7)
    assert run.outcome == "rejected"
    assert run.message == "Invalid job context: device 7 (the job's entityId) is not in the job context"


def test_acquire_asks_for_the_target_device() -> None:
    """The acquire job answers with one context acquire and no data or dbUpdates."""
    run = run_block(SetSoftwareRelease, {}, job_type="acquire")
    assert run.success
    assert run.acquires == [{"type": "context", "assertNotEmpty": True, "entity": "device", "filter": "[0]"}]
    assert run.result["result"] == {"success": True, "message": "Needs the target device"}


def test_rollback_restores_the_previous_release() -> None:
    """A rollback with previous_release succeeds; a rollback result carries no dbUpdates."""
    params = {"software_release": "17.9.4a", "previous_release": "17.6.5"}
    run = run_block(SetSoftwareRelease, params, {"devices": [ROUTER]}, job_type="rollback")
    assert run.result == {
        "jobExecutionId": run.job.job_id,
        "status": "success",
        "result": {"success": True, "message": "Software release restored to 17.6.5"},
    }


def test_rollback_without_previous_release_fails() -> None:
    """Without previous_release there is nothing to restore: a failed result."""
    run = run_block(
        SetSoftwareRelease, {"software_release": "17.9.4a"}, {"devices": [ROUTER]}, job_type="rollback"
    )
    assert run.outcome == "failed"
    assert run.message == "No previous_release given: nothing to restore"
