"""``retryable: false`` on exactly the failures every attempt would meet, and only on failures."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from neops_worker import (
    FunctionBlock,
    FunctionBlockAcquireResult,
    FunctionBlockParams,
    FunctionBlockResult,
    FunctionBlockResultData,
    FunctionBlockRollbackResult,
    PermanentFailure,
    Registration,
    WorkflowContext,
    register_function_block,
)
from neops_worker.discovery import DiscoveredBlock
from neops_worker.engine.wire import JobDefinition, JobResult
from neops_worker.worker.execution import execute_job


class Params(FunctionBlockParams):
    """How the block ends."""

    mode: str = "ok"
    count: int = 0


class Data(FunctionBlockResultData):
    """Nothing."""


def _ends(mode: str) -> FunctionBlockResult[Data]:
    """The end ``mode`` asks for: a result, or an exception."""
    if mode == "raise":
        raise ConnectionError("device unreachable")
    if mode == "permanent":
        raise PermanentFailure("the device rejects this configuration as invalid")
    if mode == "exit":
        raise SystemExit(3)
    if mode == "sleep":
        time.sleep(1)
    return FunctionBlockResult(
        success=mode in ("ok", "ok_but_final"),
        message=mode,
        retryable=False if mode in ("verdict", "ok_but_final") else None,
    )


@register_function_block(Registration(name="ends", package="tests.retryable", description="ends as told"))
class Ends(FunctionBlock[Params, Data]):
    """Ends each entry point as ``mode`` says; implements rollback."""

    def run(self, params: Params, context: WorkflowContext) -> FunctionBlockResult[Data]:
        """End as told."""
        return _ends(params.mode)

    def acquire(self, params: Params) -> FunctionBlockAcquireResult:
        """A failed acquire, final or not."""
        return FunctionBlockAcquireResult(
            success=False, message="no", retryable=False if params.mode == "verdict" else None
        )

    def rollback(
        self,
        params: Params,
        context: WorkflowContext,
        result_from_failed: FunctionBlockResult[Data] | None = None,
    ) -> FunctionBlockRollbackResult:
        """A rollback that ends as told."""
        ended = _ends(params.mode)
        return FunctionBlockRollbackResult(success=ended.success, message="rolled", retryable=ended.retryable)


@register_function_block(Registration(name="forward", package="tests.retryable", description="no rollback"))
class ForwardOnly(FunctionBlock[Params, Data]):
    """Keeps the base class's rollback, which only refuses; counts its instances."""

    made = 0

    def __init__(self) -> None:
        ForwardOnly.made += 1

    def run(self, params: Params, context: WorkflowContext) -> FunctionBlockResult[Data]:
        """Succeed."""
        return FunctionBlockResult(success=True)


BLOCKS = {
    cls.registration.fb_id: DiscoveredBlock(cls, cls.registration, __name__, Path(__file__))
    for cls in (Ends, ForwardOnly)
}
ENDS = "tests.retryable/ends:1.0.0"


def _job(parameters: dict[str, Any] | None = None, **fields: Any) -> JobDefinition:
    return JobDefinition.model_validate(
        {
            "functionBlockId": ENDS,
            "jobId": "job-1",
            "parameters": parameters or {},
            "context": {"devices": [], "deviceGroups": [], "interfaces": []},
            "type": "execute",
            "runOn": "global",
            **fields,
        }
    )


@pytest.mark.parametrize(
    ("job", "outcome", "retryable"),
    [
        pytest.param(_job({"count": "many"}), "rejected", False, id="invalid-parameters"),
        pytest.param(_job(runOn="device", entityId=7), "rejected", False, id="invalid-context"),
        pytest.param(_job(type="frobnicate"), "rejected", False, id="unknown-type"),
        pytest.param(_job({"mode": "verdict"}), "failed", False, id="block-says-final"),
        pytest.param(_job({"mode": "permanent"}), "failed", False, id="block-raises-permanent"),
        pytest.param(_job({"mode": "verdict"}, type="rollback"), "failed", False, id="rollback-says-final"),
        pytest.param(_job({"mode": "verdict"}, type="acquire"), "failed", False, id="acquire-says-final"),
        pytest.param(_job(functionBlockId="tests.retryable/nope:1.0.0"), "rejected", None, id="not-served"),
        pytest.param(_job({"mode": "raise"}), "error", None, id="block-raises"),
        pytest.param(_job({"mode": "exit"}), "exited", None, id="block-exits"),
        pytest.param(_job({"mode": "failed"}), "failed", None, id="block-fails"),
        pytest.param(_job({"mode": "failed"}, type="rollback"), "failed", None, id="rollback-fails"),
        pytest.param(_job({"mode": "other"}, type="acquire"), "failed", None, id="acquire-fails"),
        pytest.param(_job({"mode": "sleep"}), "timeout", None, id="timeout"),
        pytest.param(_job({"mode": "ok_but_final"}), "success", None, id="success-never-carries-it"),
    ],
)
async def test_retryable_false_only_where_every_attempt_fails_alike(
    job: JobDefinition, outcome: str, retryable: bool | None
) -> None:
    """Each way a job ends, and what its result says of a retry (absent: the engine decides)."""
    ended = await execute_job(job, BLOCKS.get, job_timeout=0.2)
    assert ended.outcome == outcome
    wire = ended.result.to_wire()
    assert wire["result"].get("retryable") is retryable
    assert JobResult.model_validate(wire).result.retryable is retryable  # as it crosses the job process pipe


async def test_a_permanent_failure_raised_reads_as_the_blocks_own_message() -> None:
    """PermanentFailure is the block's verdict: its text is the message, no exception type in front."""
    ended = await execute_job(_job({"mode": "permanent"}), BLOCKS.get)
    assert ended.result.result.message == "the device rejects this configuration as invalid"
    assert ended.result.status == "failed"


async def test_a_rollback_job_for_a_block_without_rollback_is_refused_unrun() -> None:
    """No rollback of its own: a failed result saying nothing was undone, the block never made."""
    made = ForwardOnly.made
    job = _job(functionBlockId="tests.retryable/forward:1.0.0", type="rollback")
    ended = await execute_job(job, BLOCKS.get)
    assert (ended.outcome, ended.result.status, ended.result.result.retryable) == (
        "rejected",
        "failed",
        False,
    )
    assert ended.result.result.message == (
        "Function block tests.retryable/forward:1.0.0 does not implement rollback; nothing was undone"
    )
    assert ForwardOnly.made == made
