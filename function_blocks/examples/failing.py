"""Fail: fails on purpose, either by returning a failed result or by raising. For trying error handling."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from neops_worker import (
    FunctionBlock,
    FunctionBlockParams,
    FunctionBlockResult,
    FunctionBlockResultData,
    Registration,
    WorkflowContext,
    register_function_block,
)


class FailParams(FunctionBlockParams):
    """How to fail."""

    mode: Literal["result", "raise"] = Field(default="raise", description="Return a failed result, or raise")
    reason: str = Field(default="failing on purpose", description="The failure message")


class FailResult(FunctionBlockResultData):
    """Never filled: this block does not succeed."""


class DeviceUnreachableError(RuntimeError):
    """What a real block would raise when it cannot reach a device."""


@register_function_block(
    Registration(
        name="fail",
        package="fb.examples.neops",
        description="Always fails: returns a failed result or raises, as asked",
        run_on="global",
        fb_type="none",
        version=(1, 0, 0),
        is_pure=True,
    )
)
class Fail(FunctionBlock[FailParams, FailResult]):
    """Fails every time."""

    def run(self, params: FailParams, context: WorkflowContext) -> FunctionBlockResult[FailResult]:
        """Fail as the parameters say."""
        if params.mode == "raise":
            raise DeviceUnreachableError(params.reason)
        return FunctionBlockResult(success=False, message=params.reason)
