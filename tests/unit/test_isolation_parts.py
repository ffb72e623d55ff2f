"""The parts of job isolation that need no process: exits as results, thread mode's one-job rule,
secret scrubbing, frames and how a death is told."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

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
from neops_worker.observability import JsonFormatter, _ContextFilter
from neops_worker.scrub import REDACTED, job_secrets, scrub, secret_values
from neops_worker.settings import Settings
from neops_worker.worker.execution import execute_job
from neops_worker.worker.jobprocess.deaths import Death
from neops_worker.worker.jobprocess.frames import FrameBuffer, FrameError, encode
from neops_worker.worker.threads import ThreadRunner

RELEASE = threading.Event()


class Params(FunctionBlockParams):
    """What to raise, and a secret."""

    mode: str = "ok"
    enable: SecretStr | None = None


class Data(FunctionBlockResultData):
    """Nothing."""


@register_function_block(Registration(name="raiser", package="tests.isolation", description="raises"))
class Raiser(FunctionBlock[Params, Data]):
    """Raises what it is told to; ``wait`` blocks until the test releases it."""

    def run(self, params: Params, context: WorkflowContext) -> FunctionBlockResult[Data]:
        """Raise, wait or succeed."""
        if params.mode == "exit":
            sys.exit(3)
        if params.mode == "interrupt":
            raise KeyboardInterrupt
        if params.mode == "secret" and params.enable is not None:
            raise PermissionError(f"enable {params.enable.get_secret_value()} refused")
        if params.mode == "wait":
            RELEASE.wait(5)
        return FunctionBlockResult(success=True, data=Data())


BLOCK = DiscoveredBlock(Raiser, Raiser.registration, __name__, Path(__file__))


def _job(**parameters: Any) -> JobDefinition:
    return JobDefinition.model_validate(
        {"functionBlockId": BLOCK.fb_id, "jobId": "job-1", "parameters": parameters, "type": "execute"}
    )


@pytest.mark.parametrize("inline", [False, True])
async def test_sys_exit_in_a_block_is_a_failed_result(inline: bool) -> None:
    """SystemExit never leaves execute_job, on a job thread or inline in a job process."""
    outcome = await execute_job(_job(mode="exit"), lambda _: BLOCK, inline=inline)
    assert (outcome.outcome, outcome.result.result.message) == (
        "exited",
        "The function block called sys.exit(3)",
    )


async def test_keyboard_interrupt_in_a_block_is_a_failed_result() -> None:
    """KeyboardInterrupt raised by block code is the job's failure, not the worker's."""
    outcome = await execute_job(_job(mode="interrupt"), lambda _: BLOCK)
    assert (outcome.outcome, outcome.result.result.message) == ("error", "KeyboardInterrupt")


async def test_a_secret_str_parameter_is_scrubbed_from_the_message() -> None:
    """A SecretStr value (its field not named like a secret) is hidden in the failed result."""
    outcome = await execute_job(_job(mode="secret", enable="en4ble-pw"), lambda _: BLOCK)
    assert outcome.result.result.message == f"PermissionError: enable {REDACTED} refused"


async def test_thread_mode_takes_no_job_while_a_timed_out_block_runs(tmp_path: Path) -> None:
    """After JOB_TIMEOUT the job fails at once, but ready() waits for the block's thread to return."""
    RELEASE.clear()
    runner = ThreadRunner(Settings(_env_file=None, job_timeout=0.1, dir_function_blocks=[str(tmp_path)]))
    runner._registry = type("R", (), {"get": staticmethod(lambda _: BLOCK)})()
    outcome = await runner.run(_job(mode="wait"))
    assert outcome.outcome == "timeout"
    ready = asyncio.ensure_future(runner.ready())
    await asyncio.sleep(0.2)
    assert not ready.done()
    RELEASE.set()
    await asyncio.wait_for(ready, 5)


def test_secret_values_come_from_names_and_secret_strs() -> None:
    """Fields named like secrets (any depth) and SecretStr values are secrets; short values are not."""
    context = {"devices": [{"username": "admin", "password": "pw-123", "enable_secret": "en-456"}]}
    found = secret_values(context) | secret_values({"x": SecretStr("tok-789"), "api_key": "ab"})
    assert found == {"pw-123", "en-456", "tok-789"}


def test_log_lines_and_tracebacks_are_scrubbed_while_the_job_runs() -> None:
    """The log filter hides the job's secrets in the message and the traceback, then stops."""
    record = logging.makeLogRecord({"msg": "login %s failed", "args": ("pw-123",), "levelno": 40})
    try:
        raise ConnectionError("pw-123 refused")
    except ConnectionError:
        record.exc_info = sys.exc_info()
    with job_secrets({"pw-123"}):
        _ContextFilter().filter(record)
    line = JsonFormatter().format(record)
    assert "pw-123" not in line
    assert line.count(REDACTED) == 3  # the message, the traceback's source line and its last line
    assert scrub("pw-123") == "pw-123"


def test_frames_decode_across_reads_and_refuse_garbage() -> None:
    """A frame split over reads decodes once whole; a non-message body is refused."""
    data = encode({"t": "run", "job": {"jobId": "j"}}) + encode({"t": "stop"})
    buffer = FrameBuffer()
    assert buffer.feed(data[:7]) == []
    assert [m["t"] for m in buffer.feed(data[7:])] == ["run", "stop"]
    with pytest.raises(FrameError):
        FrameBuffer().feed(b"\x00\x00\x00\x02[]")


def test_deaths_are_told_as_an_operator_reads_them() -> None:
    """Exit status, signal name, and a SIGKILL nobody here sent."""
    assert Death(4 << 8).describe() == "exited with status 4"
    assert Death(signal.SIGSEGV).describe() == "was killed by SIGSEGV"
    assert "out-of-memory" in Death(signal.SIGKILL).describe()
    assert Death(signal.SIGKILL, killed_by_us=True).describe() == "was killed by SIGKILL"
    assert os.WIFEXITED(4 << 8)
