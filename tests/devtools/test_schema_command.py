"""``neops_worker schema``: a block's JSON Schemas exactly as sent at registration."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from neops_worker.discovery import discover
from neops_worker.registry import registration_body
from tests.devtools.blockdirs import BUNDLED, block_source, invoke, write_dir


def sent_at_registration(directory: Path, fb_id: str) -> dict[str, object]:
    """The two schemas of ``fb_id`` in the registration body the worker sends."""
    block = next(b for b in discover([directory]).blocks if b.fb_id == fb_id)
    body = registration_body(block, "worker-1").to_wire()
    return {key: body[key] for key in ("parameterJsonSchema", "resultDataJsonSchema")}


@pytest.mark.parametrize(
    "reference",
    ["fb.examples.neops/echo:1.0.0", "fb.examples.neops/echo", "fb.examples.neops/echo:1", "echo"],
)
def test_prints_the_schemas_sent_at_registration(reference: str) -> None:
    """Full id, package/name, partial version or bare name: the registration's two schemas."""
    result = invoke("schema", reference, "--dir", str(BUNDLED))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == sent_at_registration(BUNDLED, "fb.examples.neops/echo:1.0.0")


def test_only_prints_one_schema() -> None:
    """--only parameters / --only result print that schema alone."""
    expected = sent_at_registration(BUNDLED, "fb.examples.neops/set_software_release:1.0.0")
    params = invoke("schema", "set_software_release", "--only", "parameters", "-d", str(BUNDLED))
    result = invoke("schema", "set_software_release", "--only", "result", "-d", str(BUNDLED))
    assert json.loads(params.stdout) == expected["parameterJsonSchema"]
    assert json.loads(result.stdout) == expected["resultDataJsonSchema"]
    assert json.loads(result.stdout)["additionalProperties"] is False


def test_unknown_block_is_a_usage_error() -> None:
    """An unknown block: one error line naming the known ones, exit 2."""
    result = invoke("schema", "nope", "--dir", str(BUNDLED))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("neops_worker: error: no function block 'nope' in ")
    assert "known: " in result.stderr
    assert "fb.examples.neops/echo:1.0.0" in result.stderr


def test_ambiguous_name_is_a_usage_error(tmp_path: Path) -> None:
    """A bare name two packages share: the error lists both ids, exit 2."""
    root = write_dir(
        tmp_path / "shared_names",
        {"a.py": block_source(package="pkg.a"), "b.py": block_source(package="pkg.b")},
    )
    result = invoke("schema", "probe", "--dir", str(root))
    assert result.exit_code == 2
    assert (
        "neops_worker: error: 'probe' is ambiguous: it names pkg.a/probe:1.0.0, pkg.b/probe:1.0.0; "
        "give the full id"
    ) in result.stderr
    assert invoke("schema", "pkg.b/probe", "--dir", str(root)).exit_code == 0
