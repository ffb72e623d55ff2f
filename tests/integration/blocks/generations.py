"""Blocks for the engine-generation scenarios: rollback, retries, permanent failures, sizes, references."""

from __future__ import annotations

import time

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

PACKAGE = "fb.generations.tests"


class ChangeParams(FunctionBlockParams):
    """A change that fails on request."""

    value: str = Field(default="new", description="What the change sets")
    fail: bool = Field(default=False, description="Fail after changing")


class Nothing(FunctionBlockResultData):
    """No result data."""


def _change(params: ChangeParams) -> FunctionBlockResult[Nothing]:
    if params.fail:
        return FunctionBlockResult(success=False, message=f"set {params.value}, then failed on request")
    return FunctionBlockResult(success=True, message=f"set {params.value}")


@register_function_block(
    Registration(name="undoable", package=PACKAGE, description="A change with a rollback", run_on="global")
)
class Undoable(FunctionBlock[ChangeParams, Nothing]):
    """Implements rollback: registered reversible."""

    def run(self, params: ChangeParams, context: WorkflowContext) -> FunctionBlockResult[Nothing]:
        """Change, maybe fail."""
        return _change(params)

    def rollback(
        self,
        params: ChangeParams,
        context: WorkflowContext,
        result_from_failed: FunctionBlockResult[Nothing] | None = None,
    ) -> FunctionBlockRollbackResult:
        """Undo from the job's own parameters: safe to run twice."""
        return FunctionBlockRollbackResult(success=True, message=f"undid {params.value}")


@register_function_block(
    Registration(name="final", package=PACKAGE, description="A change without rollback", run_on="global")
)
class Final(FunctionBlock[ChangeParams, Nothing]):
    """No rollback: registered not reversible."""

    def run(self, params: ChangeParams, context: WorkflowContext) -> FunctionBlockResult[Nothing]:
        """Change, maybe fail."""
        return _change(params)


class LookupParams(FunctionBlockParams):
    """A pure lookup that fails, transiently or for good."""

    count: int = Field(description="Required: a job without it is invalid")
    permanent: bool = Field(default=False, description="Say the failure is permanent")


@register_function_block(
    Registration(
        name="lookup", package=PACKAGE, description="A pure lookup that fails", run_on="global", is_pure=True
    )
)
class Lookup(FunctionBlock[LookupParams, Nothing]):
    """Pure: a 0.43 engine retries its failures unless they are permanent."""

    def run(self, params: LookupParams, context: WorkflowContext) -> FunctionBlockResult[Nothing]:
        """Fail, as asked."""
        return FunctionBlockResult(
            success=False, message="lookup failed", retryable=False if params.permanent else None
        )


class HugeParams(FunctionBlockParams):
    """How big a result to return."""

    megabytes: int = Field(default=60, description="Size of the result data")


class Huge(FunctionBlockResultData):
    """A large payload."""

    blob: str


@register_function_block(
    Registration(
        name="huge", package=PACKAGE, description="Returns a huge result", run_on="global", is_idempotent=True
    )
)
class HugeResult(FunctionBlock[HugeParams, Huge]):
    """Its result is over the engine's body limit."""

    def run(self, params: HugeParams, context: WorkflowContext) -> FunctionBlockResult[Huge]:
        """Return ``megabytes`` of data."""
        return FunctionBlockResult(
            success=True, message="big", data=Huge(blob="x" * (params.megabytes << 20))
        )


class Groups(FunctionBlockResultData):
    """What the device's references said."""

    group_ids: list[int | None]
    platform: str | None


@register_function_block(
    Registration(name="groups", package=PACKAGE, description="Reads a device's groups", run_on="device")
)
class DeviceGroups(FunctionBlock[FunctionBlockParams, Groups]):
    """Reads references, with or without ids."""

    def run(self, params: FunctionBlockParams, context: WorkflowContext) -> FunctionBlockResult[Groups]:
        """The ids of the device's groups, and its platform's name."""
        device = context.device
        platform = device.platform.name if device.platform else None
        ids = [group.id for group in device.groups or []]
        return FunctionBlockResult(
            success=True, message="read", data=Groups(group_ids=ids, platform=platform)
        )


class NapParams(FunctionBlockParams):
    """How long to sleep."""

    seconds: float = Field(default=30, description="Sleep this long")


@register_function_block(
    Registration(name="nap", package=PACKAGE, description="Sleeps", run_on="global", fb_type="none")
)
class Nap(FunctionBlock[NapParams, Nothing]):
    """Runs longer than the engine's patience."""

    def run(self, params: NapParams, context: WorkflowContext) -> FunctionBlockResult[Nothing]:
        """Sleep."""
        time.sleep(params.seconds)
        return FunctionBlockResult(success=True, message="slept")
