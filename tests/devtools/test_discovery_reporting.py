"""How discovery reports invalid declarations: every one of them, while the worker's rules stay."""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import pytest

from neops_worker import FunctionBlock, FunctionBlockParams, FunctionBlockResultData, Registration
from neops_worker.blocks.registration import FunctionBlockDefinitionError, register_function_block
from neops_worker.discovery import discover
from neops_worker.errors import DiscoveryError
from neops_worker.registry import Registry
from tests.devtools.blockdirs import block_source, line_of, write_dir


def test_every_invalid_block_of_a_module_is_a_problem(tmp_path: Path) -> None:
    """Two invalid blocks in one file: two problems, each with its reasons and its line."""
    source = block_source(name="bad:a", cls="A") + block_source(name="b", cls="B", run_on="nowhere")
    root = write_dir(tmp_path / "two_invalid", {"mod.py": source})
    report = discover([root])
    assert [p.reasons for p in report.problems] == [
        ("name 'bad:a' must be non-empty and contain no '/' or ':'",),
        ("run_on 'nowhere' must be one of global, device, interface, group, client",),
    ]
    lines = [p.line for p in report.problems]
    assert lines[0] == line_of(root / "mod.py", "@register_function_block")
    assert lines[1] is not None
    assert lines[1] > lines[0]
    assert str(report.problems[0]).startswith(f"{root / 'mod.py'}:{lines[0]}: invalid function block ")


def test_a_module_with_an_invalid_block_stays_broken_as_a_whole(tmp_path: Path) -> None:
    """Its valid blocks are not served and it is not left imported, as when the decorator raised."""
    source = block_source(name="fine", cls="Fine") + block_source(name="bad:one", cls="Bad")
    root = write_dir(tmp_path / "half_valid", {"mod.py": source, "other.py": block_source(name="other")})
    report = discover([root])
    assert [b.registration.name for b in report.blocks] == ["other"]
    assert "half_valid.mod" not in sys.modules
    with pytest.raises(DiscoveryError, match="invalid function block"):
        Registry.from_report(report)
    assert [b.registration.name for b in Registry.from_report(report, skip_broken=True)] == ["other"]


def test_an_invalid_block_before_an_import_error_is_reported_too(tmp_path: Path) -> None:
    """A module whose import fails after an invalid declaration: the declaration and the failure."""
    source = block_source(name="bad:first", cls="Bad") + "\nraise RuntimeError('later on')\n"
    root = write_dir(tmp_path / "then_broken", {"mod.py": source})
    invalid, failed = discover([root]).problems
    assert invalid.reasons == ("name 'bad:first' must be non-empty and contain no '/' or ':'",)
    assert invalid.line == line_of(root / "mod.py", "@register_function_block")
    assert failed.message == "failed to import: RuntimeError: later on"
    assert "then_broken.mod" not in sys.modules


def test_importing_an_invalid_block_breaks_the_importer(tmp_path: Path) -> None:
    """A module importing another file's invalid block fails to import; both files are reported."""
    root = write_dir(
        tmp_path / "importers",
        {
            "a_user.py": "from importers.z_bad import Bad\n",
            "z_bad.py": block_source(name="bad:name", cls="Bad"),
        },
    )
    report = discover([root])
    by_file = {p.path.name: p for p in report.problems}
    assert by_file["a_user.py"].message.startswith("failed to import: FunctionBlockDefinitionError: ")
    assert by_file["a_user.py"].line == 1
    assert by_file["a_user.py"].reasons == by_file["z_bad.py"].reasons
    assert by_file["z_bad.py"].message.startswith("invalid function block importers.z_bad.Bad")


def test_the_decorator_still_raises_outside_discovery() -> None:
    """Declared anywhere but under discovery, an invalid block raises at once, with every reason."""
    with pytest.raises(FunctionBlockDefinitionError) as caught:
        # "moon" is no run_on, which a type checker sees too: this test is about the run-time check.
        @register_function_block(Registration(name="x:y", package="p", description="", run_on="moon"))  # type: ignore[arg-type]
        class Broken(FunctionBlock[FunctionBlockParams, FunctionBlockResultData]):
            pass

    assert len(caught.value.problems) == 3
    assert caught.value.source is not None
    assert caught.value.source[0] == __file__


def test_a_block_knows_the_line_of_its_declaration() -> None:
    """The first decorator's line, as ``inspect`` gives it (without parsing the module to find it)."""

    @register_function_block(Registration(name="where", package="p", description="Placed"))
    class Placed(FunctionBlock[FunctionBlockParams, FunctionBlockResultData]):
        def run(self, params: FunctionBlockParams, context: object) -> None:  # type: ignore[override]
            """Never run."""

    assert Placed.registration.source == (__file__, inspect.getsourcelines(Placed)[1])


def test_registration_model_errors_are_listed_as_reasons(tmp_path: Path) -> None:
    """A Registration(...) pydantic rejects: one reason per bad field."""
    source = block_source().replace('description="A test block",', "")
    root = write_dir(tmp_path / "model_error", {"m.py": source})
    (problem,) = discover([root]).problems
    assert problem.reasons == ("description: Field required",)
    assert problem.line == line_of(root / "m.py", "Registration(")
