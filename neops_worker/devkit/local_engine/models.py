"""Bodies only the local engine needs: its side of a few contract DTOs and the ``/_dev/`` shapes.

The contract DTOs themselves live in :mod:`neops_worker.engine.wire`. The classes here either widen or tighten
one of them to what the engine (rather than the worker) sends or accepts, or describe the
development-only endpoints, which are not part of the contract.
"""

from __future__ import annotations

import re
from typing import Any, Literal, get_args

from pydantic import Field, field_validator

from neops_worker.engine.wire import (
    FB_ID_PATTERN,
    Acquire,
    JobContextWire,
    JobDefinition,
    JobExecutionResult,
    JobLog,
    JobResultStatus,
    JobShowResult,
    JobStatus,
    JobType,
    RunOn,
    WireModel,
    WorkerRegistration,
    WorkerState,
    canonical_fb_id,
)

#: The values of ``JobShowResultDto.status``, accepted by the ``status`` query filters.
JOB_STATUSES: tuple[str, ...] = get_args(JobStatus)

#: Where a run stands: in progress (``RUNNING``, ``ROLLBACK``), or how it ended. ``COMPLETED`` and
#: ``FAILED`` (0.42.1 mode) are the local engine's names; the ``FAILED_*`` ones are the engine's.
RunState = Literal["RUNNING", "ROLLBACK", "COMPLETED", "FAILED", "FAILED_SAFE", "FAILED_UNSAFE"]
FINAL_RUN_STATES: frozenset[RunState] = frozenset({"COMPLETED", "FAILED", "FAILED_SAFE", "FAILED_UNSAFE"})

#: ``stepLabel`` as client 0.42.1 checks it (Python ``re``: pydantic's own engine lacks lookaheads).
STEP_LABEL_PATTERN = re.compile(r"^(?!parameters$)(?!context$)(?!steps$)\w+$")
#: ... and as 0.43 does: a letter or ``_`` first.
STEP_LABEL_PATTERN_0_43 = re.compile(r"^(?!parameters$)(?!context$)(?!steps$)[A-Za-z_]\w*$")


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


def _keep_nulls(model: WireModel, body: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """``body`` with each of ``fields`` (snake_case) present, ``null`` included: required and nullable."""
    for name in fields:
        alias = model.__class__.model_fields[name].alias or name
        body[alias] = model.model_dump(mode="json", include={name})[name]
    return body


class EngineWorker(WorkerRegistration):
    """A worker record as the engine sends it (``WorkerRegistrationResponseDto``), in either contract."""

    def for_contract(self, current: bool) -> dict[str, Any]:
        """0.43: ``deletedAt`` always (required, nullable) and ``lastSeenAt``; 0.42.1: neither unless set."""
        if current:
            return _keep_nulls(self, self.to_wire(), ("deleted_at",))
        body = self.to_wire()
        body.pop("lastSeenAt", None)
        return body


#: ``JobShowResultDto`` fields 0.43 added, left out for a 0.42.1 engine.
JOB_SHOW_0_43_FIELDS = (
    "workflow_execution_id",
    "entity_id",
    "created_at",
    "updated_at",
    "started_at",
    "finished_at",
    "retry_count",
    "canceled",
    "result_message",
)
#: Those of them, and the worker's, that 0.43 requires and allows to be ``null``.
JOB_SHOW_NULLABLE = ("worker_id", "worker_name", "entity_id", "started_at", "finished_at", "result_message")


class EngineJobShow(JobShowResult):
    """An element of the job listings (``JobShowResultDto``) as the engine sends it, in either contract:
    the fields the worker's model reads, and those 0.43 added."""

    workflow_execution_id: str
    entity_id: int | None = None
    created_at: str
    updated_at: str
    started_at: str | None = None
    finished_at: str | None = None
    retry_count: int = 0
    #: Closed by the engine without a worker ever holding it: the local engine never does that.
    canceled: bool = False
    result_message: str | None = None

    def for_contract(self, current: bool) -> dict[str, Any]:
        """0.43: every field, the nullable ones as ``null``; 0.42.1: the fields it knew, unset ones out."""
        if current:
            return _keep_nulls(self, self.to_wire(), JOB_SHOW_NULLABLE)
        return self.model_dump(
            mode="json", by_alias=True, exclude_none=True, exclude=set(JOB_SHOW_0_43_FIELDS)
        )


class EngineJobPage(WireModel):
    """A page of ``GET /blackboard/jobs/page`` (``JobPageDto``, 0.43.0b8 only): ``nextCursor`` is null on
    the last page, ``total`` counts the matching jobs across pages."""

    items: list[EngineJobShow]
    next_cursor: str | None
    total: int

    def to_wire(self) -> dict[str, Any]:
        """The body: each job as 0.43 sends it, ``nextCursor`` present even when null."""
        items = [item.for_contract(True) for item in self.items]
        return {"items": items, "nextCursor": self.next_cursor, "total": self.total}


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
    """A row of ``GET /_dev/jobs``: the job's state, worker, timing, claims, and its place in its run."""

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
    updated_at: str
    claimed_at: str | None
    finished_at: str | None
    duration_s: float | None
    #: Seconds since the job was created, and since it finished (None until then), by the engine's clock.
    created_age_s: float
    finished_age_s: float | None
    result_status: JobResultStatus | None
    result_message: str | None
    #: The result's ``retryable``, when it carried one.
    retryable: bool | None
    #: True when the engine failed the job itself (it stayed claimed past the stuck-job timeout).
    failed_by_engine: bool
    #: The run (``workflowExecutionId``) and where it stands: retries and rollback jobs share it.
    run_id: str
    run_state: RunState
    #: 1 for the submitted job, 2 and up for its retries.
    attempt: int
    #: The failed job this retry replaces, and the retry that replaced this job.
    retry_of: str | None
    retried_by: str | None
    #: The failed execute job this rollback job undoes.
    rollback_of: str | None


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
    #: The last ping (the epoch once unregistered, as a 0.43 engine writes it).
    last_ping_at: str
    #: The last ping or the unregistration, and how long ago that was.
    last_seen_at: str
    last_seen_age_s: float
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
    #: The flags of the first registration, which decide retries and rollback of the block's jobs.
    is_pure: bool = False
    is_idempotent: bool = False
    reversible: bool = False
    registered_at: str
    worker_ids: list[str]
    registration: dict[str, Any]
