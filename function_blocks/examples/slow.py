"""Sleep: waits a given time, reporting progress. Shows that heartbeats go on and that shutdown drains."""

from __future__ import annotations

import logging
import time

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

log = logging.getLogger(__name__)


class SleepParams(FunctionBlockParams):
    """How long to sleep."""

    seconds: float = Field(default=5.0, ge=0, le=3600, description="Seconds to sleep")


class SleepResult(FunctionBlockResultData):
    """How long it slept."""

    slept_seconds: float


@register_function_block(
    Registration(
        name="sleep",
        package="fb.examples.neops",
        description="Sleeps for the given number of seconds (a stand-in for long device work)",
        run_on="global",
        fb_type="none",
        version=(1, 0, 0),
        is_pure=True,
        is_idempotent=True,
    )
)
class Sleep(FunctionBlock[SleepParams, SleepResult]):
    """Blocks its thread with time.sleep, on purpose: the worker must stay responsive all the same."""

    def run(self, params: SleepParams, context: WorkflowContext) -> FunctionBlockResult[SleepResult]:
        """Sleep, logging progress every few seconds."""
        started = time.monotonic()
        deadline = started + params.seconds
        next_report = started + 5
        while (now := time.monotonic()) < deadline:
            time.sleep(min(0.1, deadline - now))
            if now >= next_report:
                log.info("Sleeping: %.0f of %.0f s done", now - started, params.seconds)
                next_report += 5
        slept = round(time.monotonic() - started, 3)
        return FunctionBlockResult(
            success=True, message=f"Slept {slept:g} s", data=SleepResult(slept_seconds=slept)
        )
