"""``neops_worker blocks``: the table and the JSON listing of discovered blocks."""

from __future__ import annotations

import json
from pathlib import Path

from tests.devtools.blockdirs import BUNDLED, block_source, invoke, line_of, with_rollback, write_dir


def test_table_lists_every_block_with_its_source(probe_dir: Path) -> None:
    """The table names each block by id, with run-on, type and file:line."""
    result = invoke("blocks", "--dir", str(probe_dir))
    assert result.exit_code == 0, result.output
    assert "devtools.probes/probe:1.0.0" in result.stdout
    assert "devtools.probes/devprobe:2.1.0" in result.stdout
    line = line_of(probe_dir / "probe.py", "@register_function_block")
    assert f"probe_blocks/probe.py:{line}" in result.stdout
    assert "device" in result.stdout


def test_json_lists_identity_flags_and_source() -> None:
    """--json gives one object per block with its metadata and where it is declared."""
    result = invoke("blocks", "--json", "--dir", str(BUNDLED))
    assert result.exit_code == 0, result.output
    listing = {entry["id"]: entry for entry in json.loads(result.stdout)}
    release = listing["fb.examples.neops/set_software_release:1.0.0"]
    path = BUNDLED / "examples" / "device_release.py"
    assert release == {
        "id": "fb.examples.neops/set_software_release:1.0.0",
        "package": "fb.examples.neops",
        "name": "set_software_release",
        "version": "1.0.0",
        "description": "Records the software release of a device in the inventory",
        "run_on": "device",
        "fb_type": "facts",
        "is_pure": False,
        "is_idempotent": True,
        "reversible": True,
        "deprecated": False,
        "module": "function_blocks.examples.device_release",
        "file": str(path),
        "line": line_of(path, "@register_function_block"),
    }
    assert set(listing) >= {"fb.examples.neops/echo:1.0.0", "fb.examples.neops/fail:1.0.0"}


def test_directories_default_to_the_setting(probe_dir: Path) -> None:
    """Without --dir the blocks come from DIR_FUNCTION_BLOCKS."""
    result = invoke("blocks", "--json", env={"DIR_FUNCTION_BLOCKS": str(probe_dir)})
    assert result.exit_code == 0, result.output
    assert [entry["name"] for entry in json.loads(result.stdout)] == ["devprobe", "probe"]


def test_dir_is_repeatable(probe_dir: Path, tmp_path: Path) -> None:
    """Every --dir is searched."""
    other = write_dir(tmp_path / "more_blocks", {"extra.py": block_source(name="extra", cls="Extra")})
    result = invoke("blocks", "--json", "-d", str(probe_dir), "-d", str(other))
    assert {entry["name"] for entry in json.loads(result.stdout)} == {"probe", "devprobe", "extra"}


def test_broken_module_is_a_warning_here(probe_dir: Path) -> None:
    """A module that fails to import is reported on stderr; the other blocks are still listed."""
    (probe_dir / "broken.py").write_text("import nowhere_to_be_found\n")
    result = invoke("blocks", "--json", "--dir", str(probe_dir))
    assert result.exit_code == 0
    assert len(json.loads(result.stdout)) == 2
    assert "warning: 1 problem(s)" in result.stderr
    assert "probe_blocks/broken.py:1: failed to import: ModuleNotFoundError" in result.stderr


def test_skipped_test_files_are_named_on_stderr(tmp_path: Path) -> None:
    """blocks lists the blocks on stdout and names the skipped test files on stderr (JSON stays clean)."""
    root = write_dir(tmp_path / "with_tests", {"probe.py": block_source(), "tests/test_probe.py": ""})
    result = invoke("blocks", "--json", "--dir", str(root))
    assert result.exit_code == 0, result.output
    assert [entry["id"] for entry in json.loads(result.stdout)] == ["devtools.probes/probe:1.0.0"]
    assert "with_tests/tests/" in result.stderr


def test_a_block_with_a_rollback_is_listed_reversible(tmp_path: Path) -> None:
    """The listing shows the flag the engine is sent: a rollback of its own makes a block reversible."""
    root = write_dir(
        tmp_path / "undo",
        {
            "undoable.py": with_rollback(block_source(name="undoable", cls="Undoable")),
            "plain.py": block_source(name="plain", cls="Plain"),
        },
    )
    listing = json.loads(invoke("blocks", "--json", "--dir", str(root)).stdout)
    assert {entry["name"]: entry["reversible"] for entry in listing} == {"undoable": True, "plain": False}
    rows = [line for line in invoke("blocks", "--dir", str(root)).stdout.splitlines() if "reversible" in line]
    assert len(rows) == 1
    assert "devtools.probes/undoable:1.0.0" in rows[0]
