"""Bodies only the local engine needs: its side of a few contract DTOs and the ``/_dev/`` shapes.

The contract DTOs themselves live in :mod:`neops_worker.engine.wire`. The classes here either widen or tighten
one of them to what the engine (rather than the worker) sends or accepts, or describe the
development-only endpoints, which are not part of the contract.
"""

from __future__ import annotations

import re
from typing import Any, get_args

from pydantic import Field, field_validator

from neops_worker.engine.wire import (
    FB_ID_PATTERN,
    Acquire,
    JobContextWire,
    JobDefinition,
    JobExecutionResult,
    JobLog,
    JobResultStatus,
    JobStatus,
    JobType,
    RunOn,
    WireModel,
    WorkerState,
    canonical_fb_id,
)

#: The values of ``JobShowResultDto.status``, accepted by the ``status`` query filters.
JOB_STATUSES: tuple[str, ...] = get_args(JobStatus)

#: ``stepLabel`` as client 0.42.1 checks it (Python ``re``: pydantic's own engine lacks lookaheads).
STEP_LABEL_PATTERN = re.compile(r"^(?!parameters$)(?!context$)(?!steps$)\w+$")


# --- contract DTOs as the engine sends or accepts them -----------------------------------------


class EngineJobDefinition(JobDefinition):
    """An element of the poll answer; unlike the worker's model it always sends ``entityId``.

    ``entityId`` is required and nullable in ``JobDefinitionDto``, so ``null`` must stay on the wire.
    """

    def to_wire(self) -> dict[str, Any]:
        """The body with ``entityId`` present even when it is null."""
        body = super().to_wire()
        body["entityId"] = self.entity_id
        return body


class ResultSubmission(WireModel):
    """``JobResultDto`` as the engine accepts it: every status of the contract, ``-ack`` ones included."""

    job_execution_id: str
    status: JobResultStatus
    result: JobExecutionResult
    acquires: list[Acquire] | None = None

    def to_wire(self) -> dict[str, Any]:
        """The stored form: camelCase, nested ``dbUpdates`` serialised by their own rules."""
        body = super().to_wire()
        body["result"] = self.result.to_wire()
        return body


class LogSubmission(JobLog):
    """``JobLogDto`` with the contract's patterns on ``workflowId`` and ``functionBlockId``."""

    @field_validator("workflow_id", "function_block_id")
    @classmethod
    def _fb_id_shaped(cls, value: str) -> str:
        if FB_ID_PATTERN.match(value) is None:
            raise ValueError("must match package/name:major.minor.patch")
        return value


# --- development-only endpoints -----------------------------------------------------------------


class DevModel(WireModel):
    """Base of the ``/_dev/`` answers: camelCase, and ``null`` kept so every row has every key."""

    def to_wire(self) -> dict[str, Any]:
        """The body, nulls included."""
        return self.model_dump(mode="json", by_alias=True)


class NewJob(WireModel):
    """``POST /_dev/jobs`` request: a job to put on the blackboard, as a workflow step would."""

    function_block_id: str
    job_id: str | None = Field(default=None, min_length=1)
    parameters: dict[str, Any] = Field(default_factory=dict)
    context: JobContextWire = Field(default_factory=JobContextWire)
    type: JobType = "execute"
    run_on: RunOn = "global"
    entity_id: int | None = None
    step_label: str | None = None

    @field_validator("function_block_id")
    @classmethod
    def _canonical(cls, value: str) -> str:
        return canonical_fb_id(value)

    @field_validator("step_label")
    @classmethod
    def _step_label(cls, value: str | None) -> str | None:
        if value is not None and STEP_LABEL_PATTERN.match(value) is None:
            raise ValueError("must be word characters only and not parameters, context or steps")
        return value


class NewJobCreated(DevModel):
    """``POST /_dev/jobs`` answer."""

    job_id: str


class DevLogEntry(DevModel):
    """One stored ``POST /blackboard/job/log`` line."""

    workflow_id: str
    function_block_id: str
    log_level: str
    log_entry: str
    timestamp: str
    received_at: str


class DevJob(DevModel):
    """A row of ``GET /_dev/jobs``: the job's state, its worker, its timing and how often it was claimed."""

    job_id: str
    function_block_id: str
    type: str
    run_on: str
    entity_id: int | None
    step_label: str | None
    status: JobStatus
    worker_id: str | None
    worker_name: str | None
    #: How many times a poll handed this job out; more than 1 only after a worker expired holding it.
    claims: int
    created_at: str
    claimed_at: str | None
    finished_at: str | None
    duration_s: float | None
    result_status: JobResultStatus | None
    result_message: str | None


class DevJobDetail(DevJob):
    """``GET /_dev/jobs/{jobId}``: the row plus input, the full stored result and the job's log lines."""

    parameters: dict[str, Any]
    context: dict[str, Any]
    result: dict[str, Any] | None
    logs: list[DevLogEntry]


class DevWorker(DevModel):
    """A row of ``GET /_dev/workers``."""

    uuid: str
    name: str | None
    version: str
    ip_address: str | None
    state: WorkerState
    #: True once the worker timed out: its pings get 404 and it must register again.
    expired: bool
    last_ping_at: str
    last_ping_age_s: float
    created_at: str
    deleted_at: str | None
    function_blocks: list[str]
    claimed_jobs: int


class DevFunctionBlock(DevModel):
    """A row of ``GET /_dev/function-blocks``: the first registration and every worker linked to it."""

    function_block_id: str
    package: str
    name: str
    major_version: int
    minor_version: int
    patch_version: int
    fb_type: str
    run_on: str | None
    description: str
    registered_at: str
    worker_ids: list[str]
    registration: dict[str, Any]
