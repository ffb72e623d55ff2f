"""Job input given by hand: ``--param key=value`` pairs, a parameters file, a job context file.

Shared by the commands that start a job without an engine in front (``neops_worker exec``, the
local engine's ``submit``) and by the testing kit. Every bad input becomes a ``ConfigurationError``
whose message names the value or file and says what is wrong with it.

Sample contexts ship in ``samples/`` beside this module, one for each kind of entity a job runs on
(``device.json``, ``interface.json``, ``group.json``), shaped as an engine sends them: a start for
a context file of one's own, and what ``exec --sample-context`` runs on.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from neops_worker.engine.wire import JobContextWire, JobDefinition
from neops_worker.errors import ConfigurationError

#: Accepted context keys -> their wire name (the snake_case spelling is accepted too).
CONTEXT_KEYS = {
    "devices": "devices",
    "deviceGroups": "deviceGroups",
    "device_groups": "deviceGroups",
    "interfaces": "interfaces",
}
#: The context list holding the entity a job of each ``runOn`` targets.
RUN_ON_LISTS = {"device": "devices", "interface": "interfaces", "group": "deviceGroups"}
#: The shipped sample contexts, one per ``runOn`` with an entity.
SAMPLES = Path(__file__).resolve().parent / "samples"


def parse_param(pair: str) -> tuple[str, Any]:
    """Split ``key=value``; the value is JSON when it parses as JSON, else the plain string."""
    key, sep, text = pair.partition("=")
    key = key.strip()
    if not sep:
        raise ConfigurationError(f"--param {pair!r} is not key=value")
    if not key:
        raise ConfigurationError(f"--param {pair!r} has an empty key")
    try:
        return key, json.loads(text)
    except ValueError:
        return key, text


def parse_params(pairs: Sequence[str] = (), params_file: str | Path | None = None) -> dict[str, Any]:
    """The job parameters: the file's JSON object (if given), then each ``key=value`` on top."""
    params: dict[str, Any] = {}
    if params_file is not None:
        loaded = read_json_file(params_file, "--params-file")
        if not isinstance(loaded, dict):
            raise ConfigurationError(
                f"--params-file {params_file}: must hold a JSON object, not {_json_type(loaded)}"
            )
        params.update(loaded)
    params.update(parse_param(pair) for pair in pairs)
    return params


def load_context(path: str | Path | None) -> dict[str, Any]:
    """A job context file (camelCase, as on the wire) in wire form; no file gives an empty context."""
    if path is None:
        return normalize_context({})
    return normalize_context(read_json_file(path, "--context-file"), f"--context-file {path}")


def normalize_context(data: Any, source: str = "context") -> dict[str, Any]:
    """Check a context object; return its ``devices``, ``deviceGroups`` and ``interfaces`` lists.

    Entities may be JSON objects (camelCase or snake_case keys) or the authoring API's entity
    models; their attributes are checked later, when the job builds its ``WorkflowContext``.
    """
    if not isinstance(data, Mapping):
        raise ConfigurationError(f"{source}: must be a JSON object, not {_json_type(data)}")
    context: dict[str, Any] = {"devices": [], "deviceGroups": [], "interfaces": []}
    for key, entities in data.items():
        wire_key = CONTEXT_KEYS.get(key)
        if wire_key is None:
            expected = ", ".join(k for k in CONTEXT_KEYS if k != "device_groups")
            raise ConfigurationError(f"{source}: unknown key {key!r} (expected {expected})")
        context[wire_key] = _entity_list(entities, f"{source}: {key}")
    return context


def _entity_list(entities: Any, where: str) -> list[dict[str, Any]]:
    if entities is None:
        return []
    if not isinstance(entities, list | tuple):
        raise ConfigurationError(f"{where} must be a list of entities, not {_json_type(entities)}")
    listed = []
    for index, given in enumerate(entities):
        entity = (
            given.model_dump(mode="json", by_alias=True, exclude_none=True)
            if isinstance(given, BaseModel)
            else given
        )
        if not isinstance(entity, Mapping):
            raise ConfigurationError(f"{where}[{index}] must be an object, not {_json_type(entity)}")
        listed.append(dict(entity))
    return listed


def default_entity_id(context: Mapping[str, Any], run_on: str) -> int | None:
    """The id of the only entity of the run-on kind in a wire-form context; None unless exactly one."""
    entities = context.get(RUN_ON_LISTS.get(run_on, ""), [])
    if len(entities) != 1:
        return None
    entity_id = entities[0].get("id")
    return entity_id if isinstance(entity_id, int) else None


def job_definition(
    fb_id: str,
    parameters: Mapping[str, Any],
    context: Mapping[str, Any],
    *,
    job_type: str = "execute",
    run_on: str = "global",
    entity_id: int | None = None,
    job_id: str | None = None,
) -> JobDefinition:
    """The job an engine would send for these inputs (``context`` in wire form).

    ``entity_id`` defaults to the only entity of the run-on kind in the context, if there is one.
    """
    if entity_id is None:
        entity_id = default_entity_id(context, run_on)
    return JobDefinition(
        function_block_id=fb_id,
        job_id=job_id or f"local-{uuid.uuid4()}",
        parameters=dict(parameters),
        context=JobContextWire.model_validate(context),
        type=job_type,
        run_on=run_on,
        entity_id=entity_id,
    )


def sample_context_file(run_on: str) -> Path:
    """The shipped sample context for a job of ``run_on`` (a device's for a global job)."""
    return SAMPLES / f"{run_on if run_on in RUN_ON_LISTS else 'device'}.json"


def exec_job(
    fb_id: str,
    parameters: Mapping[str, Any],
    context_file: str | Path | None = None,
    *,
    sample_context: bool = False,
    job_type: str = "execute",
    run_on: str = "global",
    entity_id: int | None = None,
) -> JobDefinition:
    """``exec``'s job: its context from ``--context-file`` or the sample (``--sample-context``).

    A job that targets a device, interface or group but names none is refused here, saying how to
    give one, rather than by the worker with its engine-facing message.
    """
    if sample_context and context_file is not None:
        raise ConfigurationError("--context-file and --sample-context: give one of them, not both")
    context = load_context(sample_context_file(run_on) if sample_context else context_file)
    job = job_definition(fb_id, parameters, context, job_type=job_type, run_on=run_on, entity_id=entity_id)
    if job.type != "acquire" and job.run_on in RUN_ON_LISTS and job.entity_id is None:
        raise ConfigurationError(_no_entity_message(job.run_on, context, context_file))
    return job


def _no_entity_message(run_on: str, context: Mapping[str, Any], context_file: str | Path | None) -> str:
    """Why a device, interface or group job has no entity, and what to pass instead."""
    message = f"Invalid job context: the job runs on a {run_on} but names no entityId"
    key = RUN_ON_LISTS[run_on]
    if len(context[key]) > 1:
        held = f"{len(context[key])} {key}"
        return f"{message}; --context-file {context_file} has {held}: choose one with --entity-id ID"
    sample = sample_context_file(run_on)
    if context_file is None:
        return f"{message}; pass --context-file FILE (a sample: {sample}) or --sample-context"
    return f"{message}; --context-file {context_file} has no {key}: add one (a sample: {sample})"


def read_json_file(path: str | Path, option: str) -> Any:
    """The JSON in ``path``; unreadable or malformed files raise a ConfigurationError naming ``option``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"{option} {path}: cannot be read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigurationError(f"{option} {path}: is not UTF-8 text") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"{option} {path}: not valid JSON: {exc}") from None


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    for kind, name in names.items():
        if isinstance(value, kind):
            return name
    return "a number" if isinstance(value, int | float) else type(value).__name__


__all__ = [
    "SAMPLES",
    "default_entity_id",
    "exec_job",
    "job_definition",
    "load_context",
    "normalize_context",
    "parse_param",
    "parse_params",
    "read_json_file",
    "sample_context_file",
]
