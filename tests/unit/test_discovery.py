"""Discovery and the registry, on real directories of block modules."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from neops_worker.discovery import DiscoveredBlock, discover
from neops_worker.errors import DiscoveryError
from neops_worker.registry import Registry, find_blocks

BLOCK = """
from neops_worker import (FunctionBlock, FunctionBlockParams, FunctionBlockResult, FunctionBlockResultData,
                          Registration, register_function_block)

class P(FunctionBlockParams):
    x: int = 0

class R(FunctionBlockResultData):
    y: int = 0

@register_function_block(Registration(name="{name}", package="{package}", description="d", version={version}))
class B(FunctionBlock[P, R]):
    def run(self, params, context):
        return FunctionBlockResult(success=True, message="{marker}")
"""


def write_block(
    path: Path, name: str = "blk", package: str = "pkg", version: str = "(1, 0, 0)", marker: str = ""
) -> Path:
    """Write a block module at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        textwrap.dedent(BLOCK.format(name=name, package=package, version=version, marker=marker or name))
    )
    return path


def test_finds_blocks_recursively_and_skips_tests_and_dot_dirs(tmp_path: Path) -> None:
    """Nested modules are found; test files, tests/ and dot-directories are not imported."""
    root = tmp_path / "blocksdir_a"
    write_block(root / "top.py", name="top")
    write_block(root / "net" / "deep" / "leaf.py", name="leaf")
    (root / "tests").mkdir()
    (root / "tests" / "boom.py").write_text("raise RuntimeError('must not be imported')\n")
    (root / ".hidden").mkdir()
    (root / ".hidden" / "boom.py").write_text("raise RuntimeError('must not be imported')\n")
    (root / "test_something.py").write_text("raise RuntimeError('must not be imported')\n")
    report = discover([root])
    assert report.problems == []
    assert sorted(b.registration.name for b in report.blocks) == ["leaf", "top"]
    leaf = next(b for b in report.blocks if b.registration.name == "leaf")
    assert leaf.module == "blocksdir_a.net.deep.leaf"
    assert leaf.file == (root / "net" / "deep" / "leaf.py").resolve()
    assert leaf.line is not None


def test_each_block_is_announced_as_its_module_is_imported(tmp_path: Path) -> None:
    """``on_found`` hears of a block before the next module is imported, in discovery order."""
    root = tmp_path / "blocksdir_announced"
    write_block(root / "a_first.py", name="first")
    write_block(root / "b_broken.py", name="broken").write_text("raise RuntimeError('broken')\n")
    write_block(root / "c_last.py", name="last")
    heard: list[tuple[str, bool]] = []

    def on_found(block: DiscoveredBlock) -> None:
        heard.append((block.registration.name, f"{root.name}.c_last" in sys.modules))

    report = discover([root], on_found)
    assert heard == [("first", False), ("last", True)]
    assert [b.registration.name for b in report.blocks] == ["first", "last"]
    assert len(report.problems) == 1


def test_skips_what_the_vendor_sdk_skips_and_nothing_else(tmp_path: Path) -> None:
    """The SDK's test files and directories and dot-dirs are skipped and named; *_test.py is imported."""
    root = tmp_path / "blocksdir_sdk_rules"
    write_block(root / "connection_test.py", name="connection")
    write_block(root / "node_modules" / "vendored.py", name="vendored")
    for skipped in ("test_probe.py", "conftest.py", "test/a.py", "tests/b.py", "testing/c.py", ".venv/d.py"):
        (root / skipped).parent.mkdir(parents=True, exist_ok=True)
        (root / skipped).write_text("raise RuntimeError('must not be imported')\n")
    report = discover([root])
    assert report.problems == []
    assert sorted(b.registration.name for b in report.blocks) == ["connection", "vendored"]
    named = sorted(str(path.relative_to(root.resolve())) for path in report.skipped)
    assert named == ["conftest.py", "test", "test_probe.py", "testing", "tests"]


def test_same_named_subpackages_in_two_directories_do_not_collide(tmp_path: Path) -> None:
    """Two roots with the same subpackage and module names load as distinct modules."""
    write_block(tmp_path / "one" / "fbs" / "common" / "mod.py", name="first")
    write_block(tmp_path / "two" / "fbs" / "common" / "mod.py", name="second")
    report = discover([tmp_path / "one" / "fbs", tmp_path / "two" / "fbs"])
    assert report.problems == []
    assert sorted(b.registration.name for b in report.blocks) == ["first", "second"]
    assert len({b.module for b in report.blocks}) == 2


def test_blocks_can_import_sibling_modules(tmp_path: Path) -> None:
    """A block module imports a helper module of its own directory by its qualified name."""
    root = tmp_path / "sibling_fbs"
    (root / "helpers").mkdir(parents=True)
    (root / "helpers" / "consts.py").write_text("NAME = 'from_helper'\n")
    code = BLOCK.replace('name="{name}"', "name=NAME").format(
        package="pkg", version="(1, 0, 0)", marker="m", name=""
    )
    (root / "blk.py").write_text("from sibling_fbs.helpers.consts import NAME\n" + textwrap.dedent(code))
    report = discover([root])
    assert report.problems == []
    assert [b.registration.name for b in report.blocks] == ["from_helper"]


def test_import_failure_names_file_and_exception(tmp_path: Path) -> None:
    """A module that fails to import is reported with its file, line and exception; others still load."""
    root = tmp_path / "broken_fbs"
    write_block(root / "good.py", name="good")
    (root / "bad.py").write_text("x = 1\nraise ValueError('device list missing')\n")
    (root / "syntax.py").write_text("def broken(:\n")
    report = discover([root])
    assert [b.registration.name for b in report.blocks] == ["good"]
    problems = sorted(str(p) for p in report.problems)
    assert any("bad.py:2: failed to import: ValueError: device list missing" in p for p in problems)
    assert any("syntax.py:1: failed to import: SyntaxError" in p for p in problems)
    with pytest.raises(DiscoveryError) as caught:
        Registry.from_report(report)
    assert "bad.py" in str(caught.value)
    assert len(Registry.from_report(report, skip_broken=True)) == 1


def test_invalid_registration_is_an_import_problem(tmp_path: Path) -> None:
    """A registration with a bad name or run_on fails when declared, naming every problem."""
    root = tmp_path / "invalid_fbs"
    code = BLOCK.format(name="bad:name", package="pkg", version="(1, 0, 0)", marker="m")
    (root).mkdir()
    (root / "b.py").write_text(code.replace("version=(1, 0, 0))", 'version=(1, 0, 0), run_on="router")'))
    report = discover([root])
    assert len(report.problems) == 1
    message = str(report.problems[0])
    assert "name 'bad:name'" in message
    assert "run_on 'router'" in message


def test_duplicate_ids_name_both_files(tmp_path: Path) -> None:
    """Two blocks with the same package/name:version is an error naming both places."""
    a = write_block(tmp_path / "dup_a" / "x.py", name="same")
    b = write_block(tmp_path / "dup_b" / "y.py", name="same")
    report = discover([tmp_path / "dup_a", tmp_path / "dup_b"])
    with pytest.raises(DiscoveryError) as caught:
        Registry.from_report(report)
    text = str(caught.value)
    assert "pkg/same:1.0.0 is declared twice" in text
    assert str(a.resolve()) in text
    assert str(b.resolve()) in text


def test_no_blocks_and_missing_directory(tmp_path: Path) -> None:
    """An empty or missing directory gives a clear error."""
    (tmp_path / "empty").mkdir()
    with pytest.raises(DiscoveryError, match="no function blocks found"):
        Registry.from_report(discover([tmp_path / "empty"]))
    report = discover([tmp_path / "missing"])
    assert "is not a readable directory" in str(report.problems[0])


def test_registry_lookup_is_numeric(tmp_path: Path) -> None:
    """Job ids are parsed: partial versions and leading zeros match the block's version."""
    write_block(tmp_path / "lookup_fbs" / "m.py", name="blk", version="(1, 2, 0)")
    registry = Registry.from_report(discover([tmp_path / "lookup_fbs"]))
    assert registry.get("pkg/blk:1.2.0") is not None
    assert registry.get("pkg/blk:1.2") is not None
    assert registry.get("pkg/blk:01.02.00") is not None
    assert registry.get("pkg/blk:1.3.0") is None
    assert registry.get("garbage") is None
    assert [b.fb_id for b in registry.find("blk")] == ["pkg/blk:1.2.0"]


def test_a_reference_names_blocks_by_id_package_name_or_name(tmp_path: Path) -> None:
    """find_blocks: a full id (compared as numbers), package/name, or a bare name shared by two packages."""
    write_block(tmp_path / "refs_fbs" / "a.py", name="show", package="acme", version="(1, 2, 0)")
    write_block(tmp_path / "refs_fbs" / "b.py", name="show", package="other")
    blocks = discover([tmp_path / "refs_fbs"]).blocks
    assert [b.fb_id for b in find_blocks("acme/show:1.2", blocks)] == ["acme/show:1.2.0"]
    assert [b.fb_id for b in find_blocks("other/show", blocks)] == ["other/show:1.0.0"]
    assert sorted(b.fb_id for b in find_blocks("show", blocks)) == ["acme/show:1.2.0", "other/show:1.0.0"]
    assert find_blocks("acme/show:2.0.0", blocks) == []


def test_broken_root_init_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    """An exception in a directory's own __init__.py is reported with the file, like any module."""
    root = tmp_path / "broken_root_fbs"
    write_block(root / "blk.py")
    (root / "__init__.py").write_text("import does_not_exist_anywhere\n")
    report = discover([root])
    assert report.blocks == []
    (problem,) = report.problems
    assert str(problem).startswith(f"{root / '__init__.py'}:1: failed to import: ModuleNotFoundError")


def test_how_each_entry_point_is_called_is_read_at_discovery(tmp_path: Path) -> None:
    """A block declaring the job meta in ``run`` is found with that call decided; one without is not."""
    write_block(tmp_path / "fbs" / "plain.py", name="plain")
    source = (tmp_path / "fbs" / "plain.py").read_text().replace('name="plain"', 'name="meta"')
    (tmp_path / "fbs" / "meta.py").write_text(
        source.replace("run(self, params, context)", "run(self, params, context, meta)")
    )
    found = {block.registration.name: block.calls for block in discover([tmp_path / "fbs"]).blocks}
    assert found["meta"].run.positional == ("params", "context", "meta")
    assert found["plain"].run.positional == ("params", "context")
    assert [calls.run.wants_meta for calls in (found["meta"], found["plain"])] == [True, False]
    assert not found["meta"].acquire.wants_meta
