"""``neops_worker.devkit.jobinput``: parameters and contexts given by hand, with clear errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from neops_worker.blocks.context import WorkflowContext
from neops_worker.devkit.jobinput import (
    SAMPLES,
    default_entity_id,
    exec_job,
    job_definition,
    load_context,
    normalize_context,
    parse_param,
    parse_params,
    sample_context_file,
)
from neops_worker.errors import ConfigurationError


@pytest.mark.parametrize(
    ("pair", "expected"),
    [
        ("n=42", ("n", 42)),
        ("ratio=1.5", ("ratio", 1.5)),
        ("flag=true", ("flag", True)),
        ("nothing=null", ("nothing", None)),
        ("ids=[1, 2]", ("ids", [1, 2])),
        ('obj={"a": 1}', ("obj", {"a": 1})),
        ("text=hello world", ("text", "hello world")),
        ('quoted="17.9"', ("quoted", "17.9")),
        ("empty=", ("empty", "")),
        ("eq=a=b", ("eq", "a=b")),
        (" spaced =x", ("spaced", "x")),
    ],
)
def test_param_values_are_json_or_strings(pair: str, expected: tuple[str, Any]) -> None:
    """A value that parses as JSON is that value; anything else is the plain string."""
    assert parse_param(pair) == expected


@pytest.mark.parametrize(("pair", "message"), [("novalue", "is not key=value"), ("=x", "has an empty key")])
def test_malformed_pairs_are_refused(pair: str, message: str) -> None:
    """A pair without '=' or without a key is a ConfigurationError."""
    with pytest.raises(ConfigurationError, match=message):
        parse_param(pair)


def test_pairs_override_the_params_file(tmp_path: Path) -> None:
    """The file gives the base; each pair sets or replaces one key."""
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"a": 1, "b": 2}))
    assert parse_params(["b=3", "c=x"], path) == {"a": 1, "b": 3, "c": "x"}
    assert parse_params() == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [("[1]", "must hold a JSON object, not an array"), ("{", "not valid JSON"), ('"s"', "not a string")],
)
def test_bad_params_files(tmp_path: Path, text: str, message: str) -> None:
    """A params file must be readable JSON holding an object."""
    path = tmp_path / "p.json"
    path.write_text(text)
    with pytest.raises(ConfigurationError) as caught:
        parse_params([], path)
    assert message in str(caught.value)


def test_unreadable_file_is_named(tmp_path: Path) -> None:
    """A missing file: the option, the path and the reason."""
    with pytest.raises(ConfigurationError) as caught:
        load_context(tmp_path / "gone.json")
    assert (
        str(caught.value)
        == f"--context-file {tmp_path / 'gone.json'}: cannot be read: No such file or directory"
    )


def test_non_utf8_file_is_refused(tmp_path: Path) -> None:
    """A binary file is not mistaken for JSON."""
    path = tmp_path / "bin.json"
    path.write_bytes(b"\xff\xfe{")
    with pytest.raises(ConfigurationError, match="is not UTF-8 text"):
        parse_params([], path)


def test_context_file_becomes_the_three_wire_lists(tmp_path: Path) -> None:
    """Missing lists become empty; snake_case device_groups is accepted as deviceGroups."""
    path = tmp_path / "ctx.json"
    path.write_text(json.dumps({"devices": [{"id": 1}], "device_groups": [{"id": 5}]}))
    assert load_context(path) == {"devices": [{"id": 1}], "deviceGroups": [{"id": 5}], "interfaces": []}
    assert load_context(None) == {"devices": [], "deviceGroups": [], "interfaces": []}


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ([], "context: must be a JSON object, not an array"),
        ({"device": []}, "context: unknown key 'device' (expected devices, deviceGroups, interfaces)"),
        ({"devices": {"id": 1}}, "context: devices must be a list of entities, not an object"),
        ({"devices": [1]}, "context: devices[0] must be an object, not a number"),
    ],
)
def test_malformed_contexts_are_refused(context: object, message: str) -> None:
    """Each shape error names where in the context it is."""
    with pytest.raises(ConfigurationError) as caught:
        normalize_context(context)
    assert str(caught.value) == message


def test_default_entity_is_the_only_one_of_its_kind() -> None:
    """One device for a device job: that one; none, several, or a global job: None."""
    one = normalize_context({"devices": [{"id": 42}], "interfaces": [{"id": 7}, {"id": 8}]})
    assert default_entity_id(one, "device") == 42
    assert default_entity_id(one, "interface") is None
    assert default_entity_id(one, "group") is None
    assert default_entity_id(one, "global") is None


def test_job_definition_is_what_an_engine_sends() -> None:
    """The job carries the id, parameters, wire context, type, run-on and the defaulted entity."""
    context = normalize_context({"devices": [{"id": 42, "hostname": "r1"}]})
    job = job_definition("p/n:1.0.0", {"a": 1}, context, job_type="rollback", run_on="device", job_id="j1")
    assert job.to_wire() == {
        "functionBlockId": "p/n:1.0.0",
        "jobId": "j1",
        "parameters": {"a": 1},
        "context": {"devices": [{"id": 42, "hostname": "r1"}], "deviceGroups": [], "interfaces": []},
        "type": "rollback",
        "runOn": "device",
        "entityId": 42,
    }


def test_exec_job_runs_on_the_sample_of_its_kind() -> None:
    """sample_context: the shipped context of the job's run-on, its only entity the target."""
    assert exec_job("p/n:1.0.0", {}, sample_context=True, run_on="device").entity_id == 101
    assert exec_job("p/n:1.0.0", {}, sample_context=True, run_on="interface").entity_id == 201
    assert exec_job("p/n:1.0.0", {}, sample_context=True, run_on="group").entity_id == 301


def test_exec_job_with_several_candidates_asks_for_entity_id(tmp_path: Path) -> None:
    """Two devices and no --entity-id: the message says how many and which option picks one."""
    path = tmp_path / "two.json"
    path.write_text(json.dumps({"devices": [{"id": 1}, {"id": 2}]}))
    with pytest.raises(ConfigurationError) as caught:
        exec_job("p/n:1.0.0", {}, path, run_on="device")
    assert str(caught.value) == (
        "Invalid job context: the job runs on a device but names no entityId; "
        f"--context-file {path} has 2 devices: choose one with --entity-id ID"
    )


def test_exec_job_leaves_acquire_and_global_jobs_alone() -> None:
    """An acquire job (no entity by contract) and a global job need no entity: no refusal."""
    assert exec_job("p/n:1.0.0", {}, job_type="acquire", run_on="device").entity_id is None
    assert exec_job("p/n:1.0.0", {}, run_on="global").entity_id is None


@pytest.mark.parametrize(("run_on", "entity_id"), [("device", 101), ("interface", 201), ("group", 301)])
def test_every_sample_is_a_valid_context(run_on: str, entity_id: int) -> None:
    """Each shipped sample builds the worker's WorkflowContext, its entity the job's target."""
    context = WorkflowContext.from_wire(load_context(sample_context_file(run_on)), run_on, entity_id)
    context.validate_run_on()
    assert sorted(p.name for p in SAMPLES.glob("*.json")) == ["device.json", "group.json", "interface.json"]
