"""A block for the tracing tests: makes a span of its own, logs and prints in it, or ends badly on request."""

from __future__ import annotations

import ctypes
import logging
import os
import sys
import time

from neops_worker import (
    FunctionBlock,
    FunctionBlockParams,
    FunctionBlockResult,
    FunctionBlockResultData,
    Registration,
    WorkflowContext,
    register_function_block,
)

log = logging.getLogger("tests.tracing.traced")


class Params(FunctionBlockParams):
    """How the job should end."""

    mode: str = "ok"
    seconds: float = 0


class Facts(FunctionBlockResultData):
    """Where the block ran, and whether OpenTelemetry was loaded there."""

    pid: int
    otel_loaded: bool


def _loaded() -> bool:
    return any(name == "opentelemetry" or name.startswith("opentelemetry.") for name in sys.modules)


def _misbehave(mode: str, seconds: float) -> None:
    if mode == "error":
        raise RuntimeError("the device closed the session")
    if mode == "os_exit":
        os._exit(4)
    if mode == "segfault":
        ctypes.string_at(0)
    if mode == "sys_exit":
        sys.exit(3)
    if mode == "sleep":
        time.sleep(seconds)


def _in_own_span() -> None:
    """What a block (or an instrumented device library) traces: a span of the global tracer provider."""
    from opentelemetry import trace

    with trace.get_tracer("tests.tracing.traced").start_as_current_span("device call"):
        log.info("talking to the device")
        print("printed by the block", flush=True)


@register_function_block(
    Registration(
        name="traced",
        package="fb.tests.tracing",
        description="Makes a span of its own (mode=span), or fails, crashes, exits or sleeps on request",
        run_on="global",
        fb_type="configure",
    )
)
class Traced(FunctionBlock[Params, Facts]):
    """Does what ``mode`` says, then reports its process."""

    def run(self, params: Params, context: WorkflowContext) -> FunctionBlockResult[Facts]:
        """Trace, fail, crash, exit or sleep; then say which process ran the job."""
        loaded = _loaded()  # before this block imports anything itself
        log.info("block started")
        if params.mode == "span":
            _in_own_span()
        _misbehave(params.mode, params.seconds)
        facts = Facts(pid=os.getpid(), otel_loaded=loaded)
        if params.mode == "fail":
            return FunctionBlockResult(success=False, message="the device refused the change", data=facts)
        return FunctionBlockResult(success=True, message=f"done: {params.mode}", data=facts)
