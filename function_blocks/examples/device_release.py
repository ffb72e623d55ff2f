"""Set software release: records a device's software release (and a fact), so its result carries dbUpdates.

A stand-in for a facts block that would read ``show version`` over SSH; it takes the release as a
parameter so that it runs without a lab.
"""

from __future__ import annotations

import logging

from pydantic import Field

from neops_worker import (
    AcquireFromContext,
    FunctionBlock,
    FunctionBlockAcquireResult,
    FunctionBlockParams,
    FunctionBlockResult,
    FunctionBlockResultData,
    FunctionBlockRollbackResult,
    Registration,
    WorkflowContext,
    register_function_block,
)

log = logging.getLogger(__name__)


class SetReleaseParams(FunctionBlockParams):
    """The release to record."""

    software_release: str = Field(min_length=1, description="Software release to record, e.g. 17.9.4a")
    previous_release: str | None = Field(default=None, description="Release to restore on rollback")


class SetReleaseResult(FunctionBlockResultData):
    """What changed."""

    hostname: str | None
    previous_release: str | None
    software_release: str


@register_function_block(
    Registration(
        name="set_software_release",
        package="fb.examples.neops",
        description="Records the software release of a device in the inventory",
        run_on="device",
        fb_type="facts",
        version=(1, 0, 0),
        markdown_helptext="Sets `software_release` and the fact `release_source` on the target device.",
        is_idempotent=True,
        reversible=True,
    )
)
class SetSoftwareRelease(FunctionBlock[SetReleaseParams, SetReleaseResult]):
    """Changes a device field: the result carries a ``patch`` dbUpdate."""

    def acquire(self, params: SetReleaseParams) -> FunctionBlockAcquireResult:
        """The step needs the device it runs on from the workflow context."""
        return FunctionBlockAcquireResult(
            success=True,
            message="Needs the target device",
            acquires=[AcquireFromContext(assert_not_empty=True, entity="device", filter="[0]")],
        )

    def run(
        self, params: SetReleaseParams, context: WorkflowContext
    ) -> FunctionBlockResult[SetReleaseResult]:
        """Record the release on the device."""
        device = context.device
        previous = device.software_release
        device.software_release = params.software_release
        device.facts = {**(device.facts or {}), "release_source": "neops_worker example"}
        log.info(
            "Device %s: software release %s -> %s",
            device.hostname or device.id,
            previous,
            params.software_release,
        )
        return FunctionBlockResult(
            success=True,
            message=f"Software release of {device.hostname or device.id} set to {params.software_release}",
            data=SetReleaseResult(
                hostname=device.hostname, previous_release=previous, software_release=params.software_release
            ),
        )

    def rollback(
        self,
        params: SetReleaseParams,
        context: WorkflowContext,
        result_from_failed: FunctionBlockResult[SetReleaseResult] | None = None,
    ) -> FunctionBlockRollbackResult:
        """Put the previous release back, when the parameters say which it was."""
        if params.previous_release is None:
            return FunctionBlockRollbackResult(
                success=False, message="No previous_release given: nothing to restore"
            )
        context.device.software_release = params.previous_release
        return FunctionBlockRollbackResult(
            success=True, message=f"Software release restored to {params.previous_release}"
        )
