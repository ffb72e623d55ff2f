"""Every request body the worker builds validates against the protocol's JSON Schemas."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from neops_worker.blocks.base import implements_rollback
from neops_worker.discovery import discover
from neops_worker.engine.wire import (
    DbUpdates,
    EntityCreate,
    EntityDelete,
    EntityPatch,
    JobDefinition,
    JobExecutionResult,
    JobLog,
    JobPoll,
    JobResult,
    RegisterWorker,
    VersionCompatibilityRequest,
    failed_result,
)
from neops_worker.registry import Registry
from neops_worker.worker.execution import execute_job
from tests.contract import assert_sent_body, assert_valid

EXAMPLES = Path(__file__).resolve().parents[2] / "function_blocks"
DEVICE = {
    "id": 42,
    "hostname": "core-rtr-01",
    "softwareRelease": "17.6.5",
    "platform": {"id": 3, "shortName": "ios"},
}


@pytest.fixture(scope="module")
def registry() -> Registry:
    """The bundled example blocks."""
    return Registry.from_report(discover([EXAMPLES]))


def _job(fb_id: str, job_type: str = "execute", **parameters: Any) -> JobDefinition:
    body = {
        "functionBlockId": fb_id,
        "jobId": f"job-{job_type}-{fb_id.split('/')[1]}",
        "parameters": parameters,
        "context": {"devices": [DEVICE], "deviceGroups": [], "interfaces": []},
        "type": job_type,
        "runOn": "device",
        "entityId": 42,
    }
    if job_type in ("execute", "acquire", "rollback"):
        assert_valid("JobDefinitionDto", body)
    return JobDefinition.model_validate(body)


def _result(registry: Registry, job: JobDefinition) -> dict[str, Any]:
    outcome = asyncio.run(execute_job(job, registry.get))
    return outcome.result.to_wire()


def test_register_worker_bodies() -> None:
    """RegisterWorkerDto with and without the optional name and address (omitted, never null)."""
    assert_sent_body("RegisterWorkerDto", RegisterWorker(version="1.0.0").to_wire())
    full = RegisterWorker(version="1.0.0", name="w1", ip_address="10.0.0.1").to_wire()
    assert full == {"version": "1.0.0", "name": "w1", "ipAddress": "10.0.0.1"}
    assert_sent_body("RegisterWorkerDto", full)


def test_function_block_registrations(registry: Registry) -> None:
    """Every bundled block's RegisterFunctionBlockDto, `reversible` exactly for the block with a rollback."""
    reversible = {}
    for body in registry.registration_bodies("3b9f6c1e-2f4a-4c8e-9d2b-7a1e5f0c4d21"):
        wire = body.to_wire()
        assert_sent_body("RegisterFunctionBlockDto", wire)
        reversible[body.fb_id] = wire["reversible"]
        assert "title" not in wire["parameterJsonSchema"]
        assert wire["resultDataJsonSchema"]["additionalProperties"] is False
        assert wire["workerId"]
    with_rollback = {block.fb_id for block in registry if implements_rollback(block.cls)}
    assert {fb_id for fb_id, flag in reversible.items() if flag} == with_rollback
    assert "fb.examples.neops/set_software_release:1.0.0" in with_rollback
    assert "fb.examples.neops/echo:1.0.0" not in with_rollback
    assert len(reversible) == len(registry)


def test_poll_body(registry: Registry) -> None:
    """JobPollDto names every block and claims one job at a time."""
    wire = JobPoll(function_block_ids=registry.identities(), limit=1, worker_id="w").to_wire()
    assert_sent_body("JobPollDto", wire)
    assert wire["limit"] == 1
    assert len(wire["functionBlockIds"]) == len(registry)


def test_execute_success_with_db_updates(registry: Registry) -> None:
    """A successful execute job that changed a device: patch entries with snake_case paths."""
    wire = _result(registry, _job("fb.examples.neops/set_software_release:1.0.0", software_release="17.9.4a"))
    assert_sent_body("JobResultDto", wire)
    paths = {u["path"] for u in wire["result"]["dbUpdates"]["updates"]}
    assert paths == {"software_release", "facts"}


@pytest.mark.parametrize(
    ("fb_id", "job_type", "parameters"),
    [
        ("fb.examples.neops/fail:1.0.0", "execute", {"mode": "raise"}),
        ("fb.examples.neops/fail:1.0.0", "execute", {"mode": "result"}),
        ("fb.examples.neops/echo:1.0.0", "execute", {}),
        ("fb.examples.neops/echo:1.0.0", "execute", {"message": "hi"}),
        ("fb.examples.neops/set_software_release:1.0.0", "acquire", {}),
        (
            "fb.examples.neops/set_software_release:1.0.0",
            "rollback",
            {"software_release": "2", "previous_release": "1"},
        ),
        ("fb.examples.neops/echo:1.0.0", "rollback", {"message": "hi"}),
        ("fb.examples.neops/nope:9.9.9", "execute", {}),
        ("fb.examples.neops/echo:1.0.0", "bogus", {}),
    ],
)
def test_every_result_shape(
    registry: Registry, fb_id: str, job_type: str, parameters: dict[str, Any]
) -> None:
    """Failed, validation-error, acquire, rollback, unknown-block and unknown-type results are all valid."""
    wire = _result(registry, _job(fb_id, job_type, **parameters))
    assert_sent_body("JobResultDto", wire)
    assert wire["status"] == ("success" if wire["result"]["success"] else "failed")
    assert wire["result"]["message"]


def test_create_and_delete_entries_and_null_patch() -> None:
    """dbUpdates with create (nulls inside data), delete, and a patch clearing a value (value: null)."""
    updates = DbUpdates(
        updates=[
            EntityCreate(
                entity="interface",
                id=12345678,
                data={"id": 12345678, "name": "Gi0/3", "facts": None},
                identifier_fields=["name"],
                skip_if_identifier_exists=True,
            ),
            EntityDelete(entity="interface", id=8),
            EntityPatch(entity="device", id=42, path="ip", value=None),
        ]
    )
    result = JobResult(
        job_execution_id="j",
        status="success",
        result=JobExecutionResult(success=True, message="ok", db_updates=updates),
    )
    wire = result.to_wire()
    assert_sent_body("JobResultDto", wire)
    assert wire["result"]["dbUpdates"]["updates"][2] == {
        "operation": "patch",
        "entity": "device",
        "id": 42,
        "path": "ip",
        "value": None,
    }
    for entry in wire["result"]["dbUpdates"]["updates"]:
        assert_valid("JobExecutionResultDbUpdatesDtoUpdatesInner", entry)


def test_failed_result_helper() -> None:
    """The bare failed result the worker sends for malformed or refused jobs."""
    assert_sent_body("JobResultDto", failed_result("j", "Malformed job definition").to_wire())


def test_other_requests() -> None:
    """Version compatibility and job log bodies."""
    assert_sent_body(
        "VersionCompatibilityRequestDto",
        VersionCompatibilityRequest(version="0.42.1", library="neops_workflow_engine_client").to_wire(),
    )
    log = JobLog(
        workflow_id="fb.examples.neops/wf:1.0.0",
        job_id="j",
        function_block_id="fb.examples.neops/echo:1.0.0",
        log_entry="hello",
        log_level="info",
        timestamp="2025-06-02T09:15:11.204Z",
    )
    assert_sent_body("JobLogDto", log.to_wire())
