"""A block whose job kills the process that runs it: what a crash in a block costs the worker."""

from __future__ import annotations

import os

from neops_worker import (
    FunctionBlock,
    FunctionBlockParams,
    FunctionBlockResult,
    FunctionBlockResultData,
    Registration,
    WorkflowContext,
    register_function_block,
)


class CrashParams(FunctionBlockParams):
    """No parameters."""


class CrashResult(FunctionBlockResultData):
    """Never returned."""


@register_function_block(
    Registration(name="crash", package="bench.neops", description="Exits its process", fb_type="none")
)
class Crash(FunctionBlock[CrashParams, CrashResult]):
    """Ends the process at once, as a segfaulting extension or a stray ``os._exit`` would."""

    def run(self, params: CrashParams, context: WorkflowContext) -> FunctionBlockResult[CrashResult]:
        """Exit with status 1 without cleaning up."""
        os._exit(1)
