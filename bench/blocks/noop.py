"""A block that does nothing: what the worker costs per job, without the job."""

from __future__ import annotations

from neops_worker import (
    FunctionBlock,
    FunctionBlockParams,
    FunctionBlockResult,
    FunctionBlockResultData,
    Registration,
    WorkflowContext,
    register_function_block,
)


class NoopParams(FunctionBlockParams):
    """No parameters."""


class NoopResult(FunctionBlockResultData):
    """No data."""


@register_function_block(
    Registration(name="noop", package="bench.neops", description="Does nothing", fb_type="none", is_pure=True)
)
class Noop(FunctionBlock[NoopParams, NoopResult]):
    """Returns success at once."""

    def run(self, params: NoopParams, context: WorkflowContext) -> FunctionBlockResult[NoopResult]:
        """Succeed."""
        return FunctionBlockResult(success=True, message="noop")
