"""A block author's first hour: the testing kit runs blocks as the worker does, and ``exec`` on a device
block without a context says what to pass (issue 17, items 6 and 8).

The kit's ``isolation="process"`` is compared with the real ``neops_worker exec`` command, which runs
jobs as the configured worker does (in a job process by default): same results, same messages.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from neops_worker.devkit.jobinput import SAMPLES, load_context, sample_context_file
from neops_worker.devkit.local_engine.process import worker_command, worker_env
from neops_worker.testing import BlockRunner, run_block_async
from tests.devtools.blockdirs import BUNDLED, write_dir

#: A block that ends its process, hangs, or keeps a note in a module global, as asked.
TROUBLE = '''"""A block that misbehaves on request."""

import os
import time

from neops_worker import (
    FunctionBlock, FunctionBlockParams, FunctionBlockResult, FunctionBlockResultData,
    Registration, WorkflowContext, register_function_block,
)

NOTES: list[str] = []


class Params(FunctionBlockParams):
    mode: str = "note"


class Result(FunctionBlockResultData):
    notes: int


@register_function_block(Registration(name="trouble", package="devtools.firsthour", description="d"))
class Trouble(FunctionBlock[Params, Result]):
    def run(self, params: Params, context: WorkflowContext) -> FunctionBlockResult[Result]:
        print(f"trouble: {params.mode}", flush=True)
        if params.mode == "exit":
            os._exit(4)
        if params.mode == "hang":
            time.sleep(30)
        NOTES.append(params.mode)
        return FunctionBlockResult(success=True, data={"notes": len(NOTES)})
'''


#: A block that names the entity its job targets (``run_on`` filled in).
WHERE = '''"""Says which entity its job targets."""

from neops_worker import (
    FunctionBlock, FunctionBlockParams, FunctionBlockResult, FunctionBlockResultData,
    Registration, WorkflowContext, register_function_block,
)


@register_function_block(
    Registration(name="where", package="devtools.firsthour", description="d", run_on="{run_on}")
)
class Where(FunctionBlock[FunctionBlockParams, FunctionBlockResultData]):
    def run(self, params: FunctionBlockParams, context: WorkflowContext) -> FunctionBlockResult:
        entity = context.interface if context.run_on == "interface" else context.device_group
        return FunctionBlockResult(success=True, message=f"{{context.run_on}} {{entity.id}}")
'''


@pytest.fixture
def trouble_dir(tmp_path: Path) -> Path:
    """A block directory holding the misbehaving block."""
    return write_dir(tmp_path / "trouble_blocks", {"trouble.py": TROUBLE})


def exec_command(*args: str) -> subprocess.CompletedProcess[str]:
    """The real ``neops_worker exec ARGS`` in a subprocess, without the user's worker settings."""
    return subprocess.run(
        [*worker_command(), "exec", *args],
        env=worker_env({}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def exec_result(*args: str) -> dict[str, Any]:
    """The ``result`` part of the JobResultDto that ``exec ARGS --json`` prints (it exits 1: failed)."""
    done = exec_command(*args, "--json")
    assert done.returncode == 1, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)["result"]
    return result


# --- item 6: the kit in a job process --------------------------------------------------------


def test_a_block_ending_its_process_fails_the_job_as_the_worker_says(trouble_dir: Path) -> None:
    """os._exit(4) under isolation="process": the test process survives, the result is exec's."""
    run = BlockRunner([trouble_dir]).run("trouble", {"mode": "exit"}, isolation="process")
    assert (run.outcome, run.success) == ("crashed", False)
    assert run.message == (
        "The job process exited with status 4 while running the job; last output: trouble: exit"
    )
    assert run.result["result"] == exec_result("trouble", "-p", "mode=exit", "--dir", str(trouble_dir))


def test_a_hang_past_the_timeout_is_killed_as_the_worker_does(trouble_dir: Path) -> None:
    """A timeout runs in a job process by default: the block is killed, the message is exec's."""
    run = BlockRunner([trouble_dir]).run("trouble", {"mode": "hang"}, timeout=0.3)
    assert (run.outcome, run.message) == ("timeout", "Job killed after JOB_TIMEOUT of 0.3 s")
    assert run.duration_s < 5
    daemon = exec_result("trouble", "-p", "mode=hang", "--timeout", "0.3", "--dir", str(trouble_dir))
    assert run.result["result"] == daemon


def test_thread_isolation_keeps_the_in_process_timeout(trouble_dir: Path) -> None:
    """isolation="thread" with a timeout abandons the block's thread, as JOB_ISOLATION=thread does."""
    run = BlockRunner([trouble_dir]).run("trouble", {"mode": "hang"}, timeout=0.05, isolation="thread")
    assert (run.outcome, run.message) == ("timeout", "Job exceeded JOB_TIMEOUT of 0.05 s and was abandoned")


def test_a_job_process_leaves_the_test_process_state_alone(trouble_dir: Path) -> None:
    """What a block changes in memory stays in its job process; in a thread it is the test's."""
    runner = BlockRunner([trouble_dir])
    kept: list[str] = sys.modules[runner.resolve("trouble").module].NOTES
    assert runner.run("trouble", {"mode": "process"}, isolation="process").data == {"notes": len(kept) + 1}
    assert "process" not in kept
    assert runner.run("trouble", {"mode": "thread"}).data == {"notes": len(kept)}
    assert kept[-1] == "thread"


def test_what_a_block_prints_in_a_job_process_is_logged(
    trouble_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A job process's output arrives as INFO records of neops_worker.block, as in the worker's log."""
    caplog.set_level(logging.INFO)
    BlockRunner([trouble_dir]).run("trouble", {"mode": "printed"}, isolation="process")
    printed = [r for r in caplog.records if r.name == "neops_worker.block"]
    assert [r.getMessage() for r in printed] == ["trouble: printed"]


async def test_process_isolation_inside_a_running_loop(trouble_dir: Path) -> None:
    """An async test forks its job process from inside its event loop: the block still runs."""
    block = BlockRunner([trouble_dir]).resolve("trouble")
    run = await run_block_async(block, {"mode": "async"}, isolation="process")
    assert (run.outcome, run.message) == ("success", "Function block succeeded")


# --- item 8: exec on a device block without a context ----------------------------------------


def test_exec_without_a_context_says_what_to_pass() -> None:
    """A device job without a context: exit 2, naming --context-file, a sample's path, --sample-context."""
    done = exec_command("set_software_release", "-p", "software_release=v2", "--dir", str(BUNDLED))
    assert done.returncode == 2
    sample = sample_context_file("device")
    assert (
        "neops_worker: error: Invalid job context: the job runs on a device but names no entityId; "
        f"pass --context-file FILE (a sample: {sample}) or --sample-context"
    ) in done.stderr
    assert load_context(sample)["devices"][0]["id"] == 101


def test_exec_on_the_sample_device_context() -> None:
    """--sample-context runs a device block on the shipped device, its id taken as the entityId."""
    done = exec_command(
        "set_software_release",
        "-p",
        "software_release=v2",
        "--sample-context",
        "--json",
        "--dir",
        str(BUNDLED),
    )
    assert done.returncode == 0, done.stderr
    updates = json.loads(done.stdout)["result"]["dbUpdates"]["updates"]
    assert {
        "operation": "patch",
        "entity": "device",
        "id": 101,
        "path": "software_release",
        "value": "v2",
    } in (updates)


@pytest.mark.parametrize(("run_on", "entity_id"), [("interface", 201), ("group", 301)])
def test_each_sample_serves_its_kind_of_block(tmp_path: Path, run_on: str, entity_id: int) -> None:
    """The interface and group samples hold one entity of their kind: --sample-context targets it."""
    root = write_dir(tmp_path / f"{run_on}_blocks", {"where.py": WHERE.format(run_on=run_on)})
    done = exec_command("where", "--sample-context", "--json", "--dir", str(root))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["result"]["message"] == f"{run_on} {entity_id}"


def test_a_context_file_and_the_sample_exclude_each_other(tmp_path: Path) -> None:
    """--context-file with --sample-context is a usage error naming both."""
    context = tmp_path / "ctx.json"
    context.write_text(json.dumps({"devices": []}))
    done = exec_command(
        "set_software_release", "--sample-context", "--context-file", str(context), "--dir", str(BUNDLED)
    )
    assert done.returncode == 2
    assert "--context-file and --sample-context: give one of them, not both" in done.stderr


def test_a_context_file_without_the_entity_says_so(tmp_path: Path) -> None:
    """A context file holding no device for a device block: the hint names the file and the sample."""
    context = tmp_path / "ctx.json"
    context.write_text(json.dumps({"devices": []}))
    done = exec_command(
        "set_software_release",
        "-p",
        "software_release=v2",
        "--context-file",
        str(context),
        "--dir",
        str(BUNDLED),
    )
    assert done.returncode == 2
    sample = SAMPLES / "device.json"
    assert (
        f"names no entityId; --context-file {context} has no devices: add one (a sample: {sample})"
        in done.stderr
    )
