"""Stage config: writes configuration lines for a device into a file, and rolls that back by removing it.

A stand-in for a block that pushes configuration to a device, so that rollback can be tried without a
lab: the staging directory plays the device. Its ``rollback`` works from the job's parameters and
context alone, as a rollback job must (it may come to another worker, long after, more than once):
the file is named after the device, and it is removed only while it holds exactly the lines this job
stages, so a second rollback, or one after a failure that staged nothing, changes nothing.

Because the block implements ``rollback``, the worker registers it ``reversible`` with engines that know
the flag, and a 0.43 engine answers its failed run with a rollback job. ``fail_check`` makes the
check after staging fail, to see that happen (``neops_worker demo`` does).
"""

from __future__ import annotations

import logging
from pathlib import Path

from pydantic import Field

from neops_worker import (
    FunctionBlock,
    FunctionBlockParams,
    FunctionBlockResult,
    FunctionBlockResultData,
    FunctionBlockRollbackResult,
    Registration,
    WorkflowContext,
    register_function_block,
)

log = logging.getLogger(__name__)


class StageConfigParams(FunctionBlockParams):
    """Where to stage what, and whether the check after staging should fail."""

    directory: str = Field(min_length=1, description="Staging directory: the stand-in for the device")
    lines: list[str] = Field(min_length=1, description="Configuration lines to stage")
    fail_check: bool = Field(default=False, description="Fail the check after staging, to try rollback")


class StageConfigResult(FunctionBlockResultData):
    """What was staged where."""

    path: str
    lines: int


@register_function_block(
    Registration(
        name="stage_config",
        package="fb.examples.neops",
        description="Stages configuration lines for a device in a file; rollback removes them",
        run_on="device",
        fb_type="configure",
        version=(1, 0, 0),
        markdown_helptext=(
            "Writes `lines` to `DIRECTORY/device-ID.cfg`, then checks them (`fail_check` fails the check). "
            "Rollback removes the file while it holds exactly these lines."
        ),
    )
)
class StageConfig(FunctionBlock[StageConfigParams, StageConfigResult]):
    """Changes something outside the inventory, and can undo it: a reversible block."""

    def run(
        self, params: StageConfigParams, context: WorkflowContext
    ) -> FunctionBlockResult[StageConfigResult]:
        """Stage the lines, then check them."""
        path = staged_file(params, context)
        if path.exists() and path.read_text() != staged_text(params):
            return FunctionBlockResult(success=False, message=f"{path} holds other lines: left as it is")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(staged_text(params))
        log.info("Staged %d line(s) in %s", len(params.lines), path)
        if params.fail_check:
            return FunctionBlockResult(
                success=False, message=f"Check failed after staging {path} (fail_check is set)"
            )
        return FunctionBlockResult(
            success=True,
            message=f"Staged {len(params.lines)} line(s) in {path}",
            data=StageConfigResult(path=str(path), lines=len(params.lines)),
        )

    def rollback(
        self,
        params: StageConfigParams,
        context: WorkflowContext,
        result_from_failed: FunctionBlockResult[StageConfigResult] | None = None,
    ) -> FunctionBlockRollbackResult:
        """Remove the staged file if it holds this job's lines; anything else is not this job's to undo."""
        path = staged_file(params, context)
        if not path.exists():
            return FunctionBlockRollbackResult(
                success=True, message=f"Nothing staged in {path}: nothing to undo"
            )
        if path.read_text() != staged_text(params):
            return FunctionBlockRollbackResult(
                success=True, message=f"{path} holds other lines, not this job's: left as it is"
            )
        path.unlink()
        log.info("Rolled back: removed %s", path)
        return FunctionBlockRollbackResult(success=True, message=f"Removed {path}")


def staged_file(params: StageConfigParams, context: WorkflowContext) -> Path:
    """The file the job stages into: named after the device's id, so rollback finds it from the job alone."""
    return Path(params.directory) / f"device-{context.device.id}.cfg"


def staged_text(params: StageConfigParams) -> str:
    """The file's content once the lines are staged."""
    return "\n".join(params.lines) + "\n"
