"""Executing one job: every way a job can go wrong ends in a failed result that says why."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import pytest

from neops_worker import (
    FunctionBlock,
    FunctionBlockParams,
    FunctionBlockResult,
    FunctionBlockResultData,
    Registration,
    WorkflowContext,
    register_function_block,
)
from neops_worker.discovery import DiscoveredBlock
from neops_worker.engine.wire import JobDefinition
from neops_worker.worker.execution import execute_job


class Params(FunctionBlockParams):
    """Test parameters."""

    count: int
    label: str = "x"


class Data(FunctionBlockResultData):
    """Test result data."""

    total: int


@register_function_block(Registration(name="cancellable", package="tests", description="async sleeper"))
class AsyncSleeper(FunctionBlock[Params, Data]):
    """Sleeps cooperatively, so a timeout can cancel it."""

    cancelled = False

    async def run(self, params: Params, context: WorkflowContext) -> FunctionBlockResult[Data]:
        """Sleep ``count`` seconds."""
        try:
            await asyncio.sleep(params.count)
        except asyncio.CancelledError:
            AsyncSleeper.cancelled = True
            raise
        return FunctionBlockResult(success=True, data=Data(total=params.count))


@register_function_block(Registration(name="blocking", package="tests", description="blocks in async def"))
class BlockingAsync(FunctionBlock[Params, Data]):
    """Calls time.sleep inside async def, the classic mistake."""

    async def run(self, params: Params, context: WorkflowContext) -> FunctionBlockResult[Data]:
        """Block the thread."""
        time.sleep(params.count / 10)  # noqa: ASYNC251 - the mistake this test is about
        return FunctionBlockResult(success=True, data=Data(total=params.count))


@register_function_block(Registration(name="wrong_data", package="tests", description="returns bad data"))
class WrongData(FunctionBlock[Params, Data]):
    """Returns data that does not match its result model."""

    def run(self, params: Params, context: WorkflowContext) -> FunctionBlockResult[Data]:
        """Return a dict with an unknown key."""
        return FunctionBlockResult.model_construct(success=True, message="", data={"total": 1, "extra": 2})  # type: ignore[arg-type]  # deliberately wrong


@register_function_block(Registration(name="not_a_result", package="tests", description="returns None"))
class NotAResult(FunctionBlock[Params, Data]):
    """Forgets to return a result."""

    def run(self, params: Params, context: WorkflowContext) -> FunctionBlockResult[Data]:
        """Return nothing."""
        return None  # type: ignore[return-value]


@register_function_block(Registration(name="data_as", package="tests", description="data as asked"))
class DataAsAsked(FunctionBlock[Params, Data]):
    """Returns its data as a dict, or none at all, as ``label`` says."""

    def run(self, params: Params, context: WorkflowContext) -> FunctionBlockResult[Data]:
        """``dict``: the total as a string in a dict; ``typo``: a misspelt key; else no data."""
        if params.label == "dict":
            return FunctionBlockResult(success=True, data={"total": str(params.count)})
        if params.label == "typo":
            return FunctionBlockResult(success=True, data={"totl": params.count})
        return FunctionBlockResult(success=params.label != "failed", message=params.label)


BLOCKS = {
    cls.registration.fb_id: DiscoveredBlock(cls, cls.registration, __name__, Path(__file__))
    for cls in (AsyncSleeper, BlockingAsync, WrongData, NotAResult, DataAsAsked)
}


def _job(name: str, parameters: dict[str, Any], **extra: Any) -> JobDefinition:
    return JobDefinition.model_validate(
        {
            "functionBlockId": f"tests/{name}:1.0.0",
            "jobId": "job-1",
            "parameters": parameters,
            "context": {"devices": [], "deviceGroups": [], "interfaces": []},
            "type": "execute",
            "runOn": "global",
            "entityId": None,
            **extra,
        }
    )


async def test_validation_error_names_the_fields() -> None:
    """Invalid parameters fail the job with a message naming each field."""
    outcome = await execute_job(_job("cancellable", {"count": "many"}), BLOCKS.get)
    assert outcome.outcome == "rejected"
    message = outcome.result.result.message or ""
    assert message.startswith("Invalid parameters for tests/cancellable:1.0.0")
    assert "count: Input should be a valid integer" in message


async def test_unknown_block_is_named() -> None:
    """A job for a block this worker does not have fails at once, naming it."""
    outcome = await execute_job(_job("nope", {}), BLOCKS.get)
    assert outcome.result.result.message == "Function block tests/nope:1.0.0 is not available on this worker"
    assert outcome.result.status == "failed"


async def test_missing_run_on_entity() -> None:
    """A device job whose entity is not in the context fails with a clear message."""
    outcome = await execute_job(_job("cancellable", {"count": 0}, runOn="device", entityId=7), BLOCKS.get)
    assert "device 7 (the job's entityId) is not in the job context" in (outcome.result.result.message or "")


async def test_timeout_cancels_an_async_block() -> None:
    """JOB_TIMEOUT fails the job and cancels a cooperative block."""
    outcome = await execute_job(_job("cancellable", {"count": 30}), BLOCKS.get, job_timeout=0.2)
    assert outcome.outcome == "timeout"
    assert "JOB_TIMEOUT of 0.2 s" in (outcome.result.result.message or "")
    for _ in range(50):
        if AsyncSleeper.cancelled:
            break
        await asyncio.sleep(0.02)
    assert AsyncSleeper.cancelled


async def test_blocking_block_does_not_block_the_loop() -> None:
    """time.sleep inside async def runs off the caller's loop: the loop keeps ticking."""
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    outcome = await execute_job(_job("blocking", {"count": 5}), BLOCKS.get)
    task.cancel()
    assert outcome.outcome == "success"
    assert ticks >= 20


async def test_result_data_is_checked_against_the_model() -> None:
    """Data that does not match the result model fails the job instead of reaching the engine."""
    outcome = await execute_job(_job("wrong_data", {"count": 1}), BLOCKS.get)
    assert outcome.outcome == "error"
    assert "result data does not match Data" in (outcome.result.result.message or "")


async def test_wrong_return_type(caplog: pytest.LogCaptureFixture) -> None:
    """A block returning the wrong type fails the job; the log line says so with the job's id."""
    with caplog.at_level(logging.ERROR):
        outcome = await execute_job(_job("not_a_result", {"count": 1}), BLOCKS.get)
    assert outcome.result.result.message == "run() returned NoneType, expected FunctionBlockResult"
    assert "Job job-1: run() returned NoneType, expected FunctionBlockResult" in caplog.messages


async def test_result_data_given_as_a_dict_is_validated_into_the_model() -> None:
    """FunctionBlockResult(data={...}) is accepted and validated into the result model (lax: "3" is 3)."""
    outcome = await execute_job(_job("data_as", {"count": 3, "label": "dict"}), BLOCKS.get)
    assert (outcome.outcome, outcome.result.result.data) == ("success", {"total": 3})


async def test_a_dict_the_model_refuses_fails_naming_the_field() -> None:
    """A dict with a key the result model does not have fails the job, naming what is wrong."""
    outcome = await execute_job(_job("data_as", {"count": 3, "label": "typo"}), BLOCKS.get)
    assert outcome.result.status == "failed"
    assert outcome.result.result.message == (
        "result data does not match Data: total: Field required; totl: Extra inputs are not permitted"
    )


async def test_a_success_without_required_data_fails_in_one_sentence() -> None:
    """A success without data whose result model has required fields is a failed result saying so."""
    outcome = await execute_job(_job("data_as", {"count": 3, "label": "none"}), BLOCKS.get)
    assert outcome.result.status == "failed"
    assert outcome.result.result.message == "run() returned success without data, but Data requires total"


async def test_a_failure_needs_no_data() -> None:
    """A failed result without data stays the block's failed result."""
    outcome = await execute_job(_job("data_as", {"count": 3, "label": "failed"}), BLOCKS.get)
    assert (outcome.outcome, outcome.result.result.message) == ("failed", "failed")


async def test_acquire_parameters_are_lenient() -> None:
    """An acquire job with unresolved parameters still reaches the block."""
    outcome = await execute_job(_job("cancellable", {"label": None}, type="acquire"), BLOCKS.get)
    assert outcome.outcome == "success"
    assert outcome.result.result.message == "No acquires"


async def test_a_rollback_job_for_a_block_without_rollback_fails_saying_so() -> None:
    """A block without rollback of its own: the rollback job fails, saying nothing was undone."""
    outcome = await execute_job(_job("cancellable", {"count": 1}, type="rollback"), BLOCKS.get)
    assert outcome.result.status == "failed"
    assert outcome.result.result.message == (
        "Function block tests/cancellable:1.0.0 does not implement rollback; nothing was undone"
    )
