"""The engine's wire format: every body sent to or received from the blackboard, in one place.

Field names are camelCase on the wire (aliases) and snake_case in Python. Outgoing bodies leave
unset optional fields out (``to_wire``), as the vendor client does; incoming bodies ignore unknown
fields and treat ``null`` like absent, because newer engines add fields. The JSON Schemas in
``tests/schemas/`` (copied from the protocol) are checked against these models by the contract tests.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from pydantic.alias_generators import to_camel

#: The contract this worker implements, sent in the version compatibility check (the client
#: library's name and its own semver form of the version, as the vendor SDK sends them); the
#: settings VERSION_CHECK_LIBRARY and VERSION_CHECK_VERSION override them.
CONTRACT_LIBRARY = "neops_workflow_engine_client"
CONTRACT_VERSION = "0.43.0-beta.8"

JobType = Literal["execute", "acquire", "rollback"]
RunOn = Literal["global", "device", "interface", "group", "client"]
FbType = Literal["configure", "facts", "check", "execute", "none"]
ResultStatus = Literal["success", "failed"]
EntityKind = Literal["global", "device", "interface", "group", "client"]
WorkerState = Literal["online", "unreachable", "offline"]
JobStatus = Literal["pending", "polled", "pushed"]
JobResultStatus = Literal["success", "success-ack", "failed", "failed-ack"]

#: The values of the literals above, for checks and messages at run time.
JOB_TYPES: tuple[JobType, ...] = get_args(JobType)
RUN_ON_VALUES: tuple[RunOn, ...] = get_args(RunOn)
FB_TYPE_VALUES: tuple[FbType, ...] = get_args(FbType)

#: ``package/name:major.minor.patch`` as client 0.43 checks it (no ``/`` or ``:`` in the parts;
#: 0.42.1 also forbade ``-``).
FB_ID_PATTERN = re.compile(r"^([^\/:]+)\/([^\/:]+):(\d+)(?:\.(\d+))?(?:\.(\d+))?$")
#: What package and name may contain so that the string form is valid (``RegisterFunctionBlockDto``).
FB_PART_PATTERN = re.compile(r"^[^\/:]+$")


class WireModel(BaseModel):
    """Base of every DTO: camelCase aliases, unknown fields ignored, Python names accepted too."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    def to_wire(self) -> dict[str, Any]:
        """The JSON body: camelCase, unset optional fields left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


# --- identity -------------------------------------------------------------------------------


class Versionable(WireModel):
    """A function block's identity in object form (``VersionableDto``)."""

    package: str
    name: str
    major_version: int
    minor_version: int
    patch_version: int

    @property
    def fb_id(self) -> str:
        """The string form ``package/name:major.minor.patch``."""
        version = (self.major_version, self.minor_version, self.patch_version)
        return format_fb_id(self.package, self.name, version)


def format_fb_id(package: str, name: str, version: tuple[int, int, int]) -> str:
    """The string id ``package/name:major.minor.patch`` jobs carry."""
    major, minor, patch = version
    return f"{package}/{name}:{major}.{minor}.{patch}"


def parse_fb_id(fb_id: str) -> tuple[str, str, tuple[int, int, int]] | None:
    """Split ``package/name:1.2.3`` into its parts (missing minor/patch count as 0); None if malformed."""
    match = FB_ID_PATTERN.match(fb_id.strip())
    if match is None:
        return None
    package, name, major, minor, patch = match.groups()
    return package, name, (int(major), int(minor or 0), int(patch or 0))


def canonical_fb_id(value: str) -> str:
    """``package/name:1.2`` as the engine resolves it, ``package/name:1.2.0``; ValueError if malformed."""
    parts = parse_fb_id(value)
    if parts is None:
        raise ValueError("must look like package/name:major.minor.patch (no '/' or ':' in the parts)")
    return format_fb_id(*parts)


# --- worker registration, heartbeat --------------------------------------------------------


class RegisterWorker(WireModel):
    """``POST /workers/register`` request (``RegisterWorkerDto``)."""

    version: str
    name: str | None = None
    ip_address: str | None = None


class WorkerRegistration(WireModel):
    """``POST /workers/register`` response and ``GET /workers/{uuid}`` (``WorkerRegistrationResponseDto``)."""

    uuid: str
    version: str
    name: str | None = None
    ip_address: str | None = None
    state: WorkerState
    last_ping_at: str
    #: Engines from v0.43.0-beta.7 on: the last ping or the unregistration (never the epoch).
    last_seen_at: str | None = None
    created_at: str
    updated_at: str
    #: Required (nullable) from 0.43, optional before: ``null`` and absent mean the same.
    deleted_at: str | None = None
    #: Only in listings asked with ``populateFunctionBlocks=true``.
    function_block_ids: list[str] | None = None


class WorkerActionResult(WireModel):
    """Ping and unregister answer (``WorkerActionResultDto``); 0.42.1 engines answer an empty body."""

    success: bool | None = None


# --- licence refusals ------------------------------------------------------------------------


class LicenseLimit(WireModel):
    """The quota a refused write hit (``LicenseLimitDto``)."""

    name: str
    #: What the cap is called to a person (0.43.0b8); older engines may leave it out.
    label: str | None = None
    max: float
    current: float
    counting_rule: str | None = None


class LicenseLimitExceeded(WireModel):
    """A 403 (or 429) licence refusal of a worker or block registration (``LicenseLimitExceededDto``)."""

    status_code: int
    error: Literal["LicenseLimitExceeded"]
    message: str
    limit: LicenseLimit
    hint: str
    edition: str
    retry_after_seconds: float | None = None


# --- function-block registration -----------------------------------------------------------


class RegisterFunctionBlock(Versionable):
    """``POST /function-blocks/register`` request (``RegisterFunctionBlockDto``)."""

    worker_id: str | None = None
    description: str
    run_on: RunOn | None = None
    fb_type: FbType
    markdown_help_text: str | None = None
    deprecated: bool | None = None
    parameter_json_schema: dict[str, Any]
    result_data_json_schema: dict[str, Any]
    is_idempotent: bool | None = None
    is_pure: bool | None = None
    #: Only known to engines from 0.43.0-beta.2 on; the client leaves it out for others.
    reversible: bool | None = None

    def identity(self) -> Versionable:
        """The block's ``VersionableDto``."""
        return Versionable(
            package=self.package,
            name=self.name,
            major_version=self.major_version,
            minor_version=self.minor_version,
            patch_version=self.patch_version,
        )


# --- version ----------------------------------------------------------------------------


class VersionCompatibilityRequest(WireModel):
    """``POST /version/compatibility`` request."""

    version: str
    library: str


class VersionCompatibility(WireModel):
    """``POST /version/compatibility`` response."""

    compatible: bool
    deprecated: bool
    version: str
    checked_library: str
    checked_version: str


class VersionResponse(WireModel):
    """``GET /version`` response."""

    version: str


class HealthResponse(WireModel):
    """``GET /health`` response."""

    healthy: bool | None = None


# --- jobs ---------------------------------------------------------------------------------


class JobPoll(WireModel):
    """``POST /blackboard/job`` request (``JobPollDto``)."""

    function_block_ids: list[Versionable]
    limit: int | None = Field(default=None, ge=1)
    worker_id: str


class JobContextWire(WireModel):
    """``JobExecutionContextDto``: the three entity lists, kept as plain JSON objects.

    The authoring API turns them into typed entities; keeping them raw here means one malformed
    entity fails one job (with a result), never the poll that carried it.
    """

    devices: list[dict[str, Any]] = Field(default_factory=list)
    device_groups: list[dict[str, Any]] = Field(default_factory=list)
    interfaces: list[dict[str, Any]] = Field(default_factory=list)


class JobDefinition(WireModel):
    """One claimed job (``JobDefinitionDto``), an element of the poll answer."""

    function_block_id: str
    job_id: str
    step_label: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    context: JobContextWire = Field(default_factory=JobContextWire)
    type: str
    run_on: str | None = None
    entity_id: int | None = None


class EntityCreate(WireModel):
    """A ``create`` entry of ``dbUpdates`` (``EntityCreateDto``)."""

    operation: Literal["create"] = "create"
    entity: EntityKind
    id: int = Field(ge=1)
    data: dict[str, Any]
    identifier_fields: list[str] | None = None
    skip_if_identifier_exists: bool = False


class EntityPatch(WireModel):
    """A ``patch`` entry of ``dbUpdates`` (``EntityPatchDto``); ``value`` is nullable and always sent."""

    operation: Literal["patch"] = "patch"
    entity: EntityKind
    id: int = Field(ge=1)
    path: str
    value: Any = None

    def to_wire(self) -> dict[str, Any]:
        """Like every DTO, but ``value: null`` is meaningful (the attribute was cleared) and stays."""
        body = super().to_wire()
        body["value"] = self.model_dump(mode="json")["value"]
        return body


class EntityDelete(WireModel):
    """A ``delete`` entry of ``dbUpdates`` (``EntityDeleteDto``)."""

    operation: Literal["delete"] = "delete"
    entity: EntityKind
    id: int = Field(ge=1)


DbUpdate = Annotated[EntityCreate | EntityPatch | EntityDelete, Field(discriminator="operation")]


class DbUpdates(WireModel):
    """``JobExecutionResultDbUpdatesDto``: the inventory changes of a successful execute job."""

    updates: list[DbUpdate] = Field(default_factory=list)

    def to_wire(self) -> dict[str, Any]:
        """Each entry serialised by its own rules (a patch keeps ``value: null``)."""
        return {"updates": [update.to_wire() for update in self.updates]}


class AcquireByElasticQuery(WireModel):
    """An ``elastic`` acquire (``EntityAcquireByElasticQuery``)."""

    type: Literal["elastic"] = "elastic"
    assert_not_empty: bool
    entity: EntityKind
    description: str | None = None
    query: str
    limit: int | None = None


class AcquireFromContext(WireModel):
    """A ``context`` acquire (``EntityAcquireContext``)."""

    type: Literal["context"] = "context"
    assert_not_empty: bool
    entity: EntityKind
    description: str | None = None
    filter: str


#: The only two acquire shapes a job result may carry (expansion and reference are rejected).
Acquire = Annotated[AcquireByElasticQuery | AcquireFromContext, Field(discriminator="type")]


class JobExecutionResult(WireModel):
    """``JobExecutionResultDto``: outcome, message, data and inventory changes."""

    success: bool
    message: str | None = None
    data: dict[str, Any] | None = None
    db_updates: DbUpdates | None = None
    #: ``False`` on a failure that would recur on every attempt, so the engine does not retry the
    #: job. Only engines from 0.43.0-beta.8 on know it; the client leaves it out for others.
    retryable: bool | None = None

    def to_wire(self) -> dict[str, Any]:
        """Nested ``dbUpdates`` keep their own serialisation rules."""
        body = super().to_wire()
        if self.db_updates is not None and self.db_updates.updates:
            body["dbUpdates"] = self.db_updates.to_wire()
        else:
            body.pop("dbUpdates", None)
        return body


class JobResult(WireModel):
    """``POST /blackboard/job/result`` request (``JobResultDto``)."""

    job_execution_id: str
    status: ResultStatus
    result: JobExecutionResult
    acquires: list[Acquire] | None = None

    def to_wire(self) -> dict[str, Any]:
        """The body; an empty acquire list is left out, as the vendor worker does."""
        body = super().to_wire()
        body["result"] = self.result.to_wire()
        if not self.acquires:
            body.pop("acquires", None)
        return body


def failed_result(job_id: str, message: str, *, retryable: bool | None = None) -> JobResult:
    """A ``failed`` result with ``message`` (``retryable=False``: a failure every attempt would meet)."""
    result = JobExecutionResult(success=False, message=message, retryable=retryable)
    return JobResult(job_execution_id=job_id, status="failed", result=result)


class JobLog(WireModel):
    """``POST /blackboard/job/log`` request (``JobLogDto``)."""

    workflow_id: str
    job_id: str
    function_block_id: str
    log_entry: str
    log_level: str
    timestamp: str


class JobShowResult(WireModel):
    """An element of the job listings (``JobShowResultDto``)."""

    function_block_id: str
    job_id: str
    step_label: str | None = None
    status: JobStatus | None = None
    type: JobType
    result_status: JobResultStatus | None = None
    worker_id: str | None = None
    worker_name: str | None = None
    worker_deleted: bool = False


class ListedJob(JobShowResult):
    """A job of the listing (``JobShowResultDto``) with its creation time, which 0.42.1 did not send."""

    created_at: datetime | None = None


class JobPage(WireModel):
    """One page of ``GET /blackboard/jobs/page`` (``JobPageDto``): the jobs and the next page's cursor."""

    items: list[ListedJob]
    next_cursor: str | None = None
    total: float | None = None


JobDefinitionList = TypeAdapter(list[dict[str, Any]])
WorkerRegistrationList = TypeAdapter(list[WorkerRegistration])
JobShowResultList = TypeAdapter(list[JobShowResult])
