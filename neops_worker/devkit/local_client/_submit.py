"""Submitting a job to the local engine: which block a name means, the job body, waiting for its run."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from neops_worker.devkit.jobinput import default_entity_id, load_context, parse_params
from neops_worker.devkit.local_client._client import DevClient
from neops_worker.devkit.local_client._params import parameter_problems
from neops_worker.devkit.local_engine.models import FINAL_RUN_STATES, DevFunctionBlock, DevJob, NewJob
from neops_worker.engine.wire import canonical_fb_id
from neops_worker.errors import ConfigurationError, describe_errors

#: First and longest pause between two looks at a job that has no result yet (seconds).
WAIT_FIRST_S = 0.05
WAIT_MAX_S = 0.5


@dataclass(frozen=True)
class ResolvedBlock:
    """The block a job is for: its canonical id, and its registration if a worker registered it."""

    fb_id: str
    registered: DevFunctionBlock | None


@dataclass(frozen=True)
class JobInput:
    """What the user gave for a job besides the block."""

    params: Sequence[str] = ()
    params_file: Path | None = None
    context_file: Path | None = None
    job_type: str = "execute"
    run_on: str | None = None
    entity_id: int | None = None

    @property
    def empty(self) -> bool:
        """Nothing was given but the defaults."""
        return not self.params and replace(self, params=()) == JobInput()


def resolve_block(given: str, blocks: Sequence[DevFunctionBlock]) -> ResolvedBlock:
    """``package/name:1.2.3`` as is; ``package/name`` or a bare name must match one registered block."""
    if ":" in given:
        try:
            fb_id = canonical_fb_id(given)
        except ValueError as exc:
            raise ConfigurationError(f"block {given!r} {exc}") from None
        found = [block for block in blocks if block.function_block_id == fb_id]
        return ResolvedBlock(fb_id, found[0] if found else None)
    candidates = [block for block in blocks if _names_match(given, block)]
    if len(candidates) == 1:
        return ResolvedBlock(candidates[0].function_block_id, candidates[0])
    if not candidates:
        known = ", ".join(sorted(block.function_block_id for block in blocks))
        hint = f"registered: {known}" if known else "none is registered yet: start a worker first"
        raise ConfigurationError(f"no registered function block is called {given!r} ({hint})")
    ids = ", ".join(sorted(block.function_block_id for block in candidates))
    raise ConfigurationError(f"{given!r} is ambiguous: {ids}; give package/name:version")


def _names_match(given: str, block: DevFunctionBlock) -> bool:
    if "/" in given:
        return given == f"{block.package}/{block.name}"
    return given == block.name


def build_job(block: ResolvedBlock, given: JobInput) -> NewJob:
    """The ``POST /_dev/jobs`` body; run-on defaults to the block's registered one, the entity to the
    only one of its kind in the context."""
    context = load_context(given.context_file)
    run_on = given.run_on or (block.registered.run_on if block.registered else None) or "global"
    entity_id = given.entity_id if given.entity_id is not None else default_entity_id(context, run_on)
    fields: dict[str, Any] = {
        "function_block_id": block.fb_id,
        "parameters": parse_params(given.params, given.params_file),
        "context": context,
        "type": given.job_type,
        "run_on": run_on,
        "entity_id": entity_id,
    }
    try:
        return NewJob.model_validate(fields)
    except ValidationError as exc:
        raise ConfigurationError(f"invalid job: {describe_errors(exc)}") from None


def job_problems(block: DevFunctionBlock, job: NewJob) -> str | None:
    """Why the job's parameters do not fit the block's registered ``parameterJsonSchema``, in one
    sentence naming the block and its parameters; None when they fit (or it registered no schema)."""
    schema = block.registration.get("parameterJsonSchema")
    if not isinstance(schema, dict):
        return None
    problems = parameter_problems(schema, job.parameters, job.type)
    if not problems:
        return None
    declared = ", ".join(schema.get("properties") or {}) or "none"
    return (
        f"parameters for {block.function_block_id} do not fit the schema it registered: "
        f"{'; '.join(problems)} (its parameters: {declared})"
    )


def wait_for_run(
    client: DevClient, job_id: str, timeout_s: float, sleep: Callable[[float], None] = time.sleep
) -> list[DevJob] | None:
    """The jobs of the job's run (retries, rollback jobs) once it has ended; None if it has not after
    ``timeout_s`` (0: wait for ever)."""
    deadline = time.monotonic() + timeout_s if timeout_s > 0 else float("inf")
    pause = WAIT_FIRST_S
    while True:
        job = client.job(job_id)
        if job.run_state in FINAL_RUN_STATES:
            return client.jobs(run_id=job.run_id)
        if time.monotonic() + pause > deadline:
            return None
        sleep(pause)
        pause = min(pause * 2, WAIT_MAX_S)


def final_attempt(run: Sequence[DevJob], job_id: str) -> DevJob:
    """The last attempt of ``job_id``: the job itself, or the retry that replaced it last."""
    by_id = {job.job_id: job for job in run}
    job = by_id[job_id]
    while job.retried_by is not None and job.retried_by in by_id:
        job = by_id[job.retried_by]
    return job


def resolve_job_id(given: str, jobs: Sequence[DevJob]) -> str:
    """A job id, or the unique job whose id starts with ``given`` (the tables show 8 characters)."""
    found = [job.job_id for job in jobs if job.job_id.startswith(given)]
    if given in found or len(found) == 1:
        return given if given in found else found[0]
    if not found:
        raise ConfigurationError(f"no job id is or starts with {given!r} (see 'neops_worker jobs')")
    raise ConfigurationError(f"{given!r} starts {len(found)} job ids; give more of it")


__all__ = [
    "JobInput",
    "ResolvedBlock",
    "build_job",
    "final_attempt",
    "job_problems",
    "resolve_block",
    "resolve_job_id",
    "wait_for_run",
]
