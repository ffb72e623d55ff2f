"""A rollback job runs from its own parameters and context alone: a new job id, any worker, any number
of times (remediation rollback jobs, contract 5.2)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from neops_worker.engine.wire import JobDefinition
from neops_worker.runtime import run_one_job
from neops_worker.settings import Settings

RELEASE = "fb.tests.rollback/release:1.0.0"

#: A block that sets a device's release and undoes it, writing what it undid to a journal file.
BLOCK = """
from pathlib import Path

from neops_worker import (
    FunctionBlock, FunctionBlockParams, FunctionBlockResult, FunctionBlockResultData,
    FunctionBlockRollbackResult, Registration, WorkflowContext, register_function_block,
)


class Params(FunctionBlockParams):
    release: str
    previous: str
    journal: str


class Data(FunctionBlockResultData):
    pass


@register_function_block(
    Registration(name="release", package="fb.tests.rollback", description="Sets a release, and undoes it",
                 run_on="device", fb_type="configure")
)
class Release(FunctionBlock[Params, Data]):
    def run(self, params: Params, context: WorkflowContext) -> FunctionBlockResult[Data]:
        context.device.software_release = params.release
        return FunctionBlockResult(success=True, data=Data())

    def rollback(self, params, context, result_from_failed=None) -> FunctionBlockRollbackResult:
        device = context.device
        with Path(params.journal).open("a") as journal:
            journal.write(f"{device.hostname}: {device.software_release} -> {params.previous}\\n")
        device.software_release = params.previous
        message = f"{device.hostname} back on {params.previous}"
        return FunctionBlockRollbackResult(success=True, message=message)
"""


@pytest.fixture
def blocks(tmp_path: Path) -> Path:
    """A directory holding the release block."""
    directory = tmp_path / "blocks"
    directory.mkdir()
    (directory / "release.py").write_text(BLOCK)
    return directory


def _rollback_job(journal: Path) -> JobDefinition:
    """A remediation rollback job as a 0.43 engine sends it: a job id never seen, the execute's inputs."""
    return JobDefinition.model_validate(
        {
            "functionBlockId": RELEASE,
            "jobId": str(uuid.uuid4()),
            "parameters": {"release": "17.9.4a", "previous": "17.6.5", "journal": str(journal)},
            "context": {
                "devices": [
                    {"id": 42, "hostname": "core-rtr-01", "softwareRelease": "17.9.4a", "groups": [{}]}
                ],
                "deviceGroups": [],
                "interfaces": [],
            },
            "type": "rollback",
            "runOn": "device",
            "entityId": 42,
        }
    )


def _run(blocks: Path, isolation: str, job: JobDefinition) -> Any:
    """Run ``job`` on a worker's runner made for it alone (nothing kept from any earlier job)."""
    settings = Settings(_env_file=None, dir_function_blocks=[str(blocks)], job_isolation=isolation)
    return run_one_job(settings, job)


@pytest.mark.parametrize("isolation", ["process", "thread"])
def test_a_rollback_job_runs_from_its_own_parameters_and_context(
    blocks: Path, tmp_path: Path, isolation: str
) -> None:
    """A fresh runner given a rollback job with a new id calls the block's rollback with that job's inputs."""
    journal = tmp_path / "journal.txt"
    outcome = _run(blocks, isolation, _rollback_job(journal))
    assert outcome.result.to_wire()["result"] == {"success": True, "message": "core-rtr-01 back on 17.6.5"}
    assert journal.read_text() == "core-rtr-01: 17.9.4a -> 17.6.5\n"


def test_a_second_identical_rollback_job_runs_again(blocks: Path, tmp_path: Path) -> None:
    """The same rollback asked twice is run twice: the worker keeps no memory of rollbacks done."""
    journal = tmp_path / "journal.txt"
    job = _rollback_job(journal)
    first = _run(blocks, "thread", job)
    second = _run(blocks, "thread", job)
    assert first.result.result.success
    assert second.result.result.success
    assert journal.read_text().splitlines() == ["core-rtr-01: 17.9.4a -> 17.6.5"] * 2
