"""``neops_worker check``: every problem of a block directory in one run, with file and line."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

from tests.devtools.blockdirs import BUNDLED, block_source, invoke, line_of, with_rollback, write_dir

NO_RUN = '''from neops_worker import FunctionBlock, FunctionBlockParams, FunctionBlockResultData
from neops_worker import Registration, register_function_block


@register_function_block(Registration(name="lazy", package="devtools.probes", description="d"))
class Lazy(FunctionBlock[FunctionBlockParams, FunctionBlockResultData]):
    """Forgot to implement run()."""
'''


def three_mistakes(root: Path) -> Path:
    """A syntax error, an invalid registration and a duplicate id, each in a file of its own."""
    return write_dir(
        root,
        {
            "good.py": block_source(),
            "syntax.py": "def broken(:\n    pass\n",
            "invalid.py": block_source(name="bad:name", cls="Bad", run_on="router"),
            "sub/copy.py": block_source(cls="ProbeCopy"),
        },
    )


def test_bundled_blocks_pass() -> None:
    """The example blocks have no problems: exit 0 and a summary."""
    result = invoke("check", "--dir", str(BUNDLED))
    assert result.exit_code == 0, result.output
    assert re.search(r"^OK: \d+ function block\(s\) in \d+ module\(s\)", result.stdout, re.MULTILINE)


def test_three_different_mistakes_are_all_reported_in_one_run(tmp_path: Path) -> None:
    """Syntax error, invalid registration and duplicate id: three problems, each at file:line, exit 1."""
    root = three_mistakes(tmp_path / "mistakes")
    result = invoke("check", "--dir", str(root))
    assert result.exit_code == 1
    out = result.stdout
    assert "mistakes/syntax.py:1: failed to import: SyntaxError" in out
    invalid_line = line_of(root / "invalid.py", "@register_function_block")
    assert f"mistakes/invalid.py:{invalid_line}: invalid function block" in out
    assert "- name 'bad:name' must be non-empty and contain no '/' or ':'" in out
    assert "- run_on 'router' must be one of global, device, interface, group, client" in out
    copy_line = line_of(root / "sub" / "copy.py", "@register_function_block")
    good_line = line_of(root / "good.py", "@register_function_block")
    assert (
        f"mistakes/sub/copy.py:{copy_line}: function block devtools.probes/probe:1.0.0 is declared twice: "
        f"first at mistakes/good.py:{good_line}"
    ) in out
    assert "3 problem(s)" in out


def test_json_report_lists_the_problems(tmp_path: Path) -> None:
    """--json: ok flag, the valid blocks, and each problem with file, line, message and details."""
    root = three_mistakes(tmp_path / "mistakes")
    result = invoke("check", "--json", "--dir", str(root))
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert report["blocks"] == ["devtools.probes/probe:1.0.0"]
    by_file = {problem["file"]: problem for problem in report["problems"]}
    assert set(by_file) == {"mistakes/syntax.py", "mistakes/invalid.py", "mistakes/sub/copy.py"}
    assert by_file["mistakes/invalid.py"]["details"] == [
        "name 'bad:name' must be non-empty and contain no '/' or ':'",
        "run_on 'router' must be one of global, device, interface, group, client",
    ]


def test_every_invalid_block_of_one_file_is_reported(tmp_path: Path) -> None:
    """Two invalid declarations in one module: both reported, not only the first."""
    source = block_source(name="bad:one", cls="One") + block_source(version=(1, -1, 0), cls="Two")
    root = write_dir(tmp_path / "twice_bad", {"both.py": source})
    result = invoke("check", "--json", "--dir", str(root))
    assert result.exit_code == 1
    problems = [p for p in json.loads(result.stdout)["problems"] if p["file"] == "twice_bad/both.py"]
    assert [p["details"] for p in problems] == [
        ["name 'bad:one' must be non-empty and contain no '/' or ':'"],
        ["version (1, -1, 0) must be three whole numbers >= 0"],
    ]
    assert problems[0]["line"] < problems[1]["line"]


def test_registration_model_errors_name_each_field(tmp_path: Path) -> None:
    """A Registration(...) pydantic rejects lists every bad field as a detail."""
    source = block_source().replace('description="A test block",', "").replace("(1, 0, 0)", "(1, 'x', 0)")
    root = write_dir(tmp_path / "model_errors", {"reg.py": source})
    result = invoke("check", "--dir", str(root))
    assert result.exit_code == 1
    assert "failed to import: ValidationError: 2 validation errors for Registration" in result.stdout
    assert "- description: Field required" in result.stdout
    assert "- version.1: Input should be a valid integer" in result.stdout


def test_block_without_run_is_a_problem(tmp_path: Path) -> None:
    """A registered class that does not implement run() is reported."""
    root = write_dir(tmp_path / "lazy_blocks", {"lazy.py": NO_RUN})
    result = invoke("check", "--dir", str(root))
    assert result.exit_code == 1
    assert "invalid function block devtools.probes/lazy:1.0.0" in result.stdout
    assert "- the class does not implement run()" in result.stdout


def test_missing_directory_and_no_blocks_are_problems(tmp_path: Path) -> None:
    """A directory that does not exist, and finding no block at all, fail the check."""
    result = invoke("check", "--dir", str(tmp_path / "nowhere"))
    assert result.exit_code == 1
    assert "is not a readable directory" in result.stdout
    assert "no function blocks found in" in result.stdout


def test_skipped_test_files_are_named_and_a_star_test_module_is_checked(tmp_path: Path) -> None:
    """check names the test files it did not import; a block in connection_test.py is found and checked."""
    root = write_dir(
        tmp_path / "sdk_named",
        {
            "connection_test.py": block_source(name="connection"),
            "test_probe.py": "raise RuntimeError('not imported')\n",
            "testing/helpers.py": "raise RuntimeError('not imported')\n",
        },
    )
    result = invoke("check", "--dir", str(root))
    assert result.exit_code == 0, result.output
    assert "Skipped 2 test file(s)" in result.stdout
    assert "sdk_named/test_probe.py" in result.stdout
    assert "sdk_named/testing/" in result.stdout
    assert "OK: 1 function block(s) in 1 module(s)" in result.stdout
    body = json.loads(invoke("check", "--json", "--dir", str(root)).stdout)
    assert body["blocks"] == ["devtools.probes/connection:1.0.0"]
    assert body["skipped"] == ["sdk_named/test_probe.py", "sdk_named/testing/"]


SDK_WITHOUT_ACQUIRE = """from neops_worker.sdk.function_block.function_block import (
    FunctionBlock,
    FunctionBlockParams,
    FunctionBlockResult,
    FunctionBlockResultData,
)
from neops_worker.sdk.registry.decorator import register_function_block
from neops_worker.sdk.registry.registration import Registration
from neops_worker.sdk.workflow import WorkflowContext


@register_function_block(Registration(name="half", package="devtools.probes", description="d"))
class Half(FunctionBlock[FunctionBlockParams, FunctionBlockResultData]):
    async def run(
        self, params: FunctionBlockParams, context: WorkflowContext
    ) -> FunctionBlockResult[FunctionBlockResultData]:
        return FunctionBlockResult(success=True, message="ok")
"""


def test_an_sdk_style_block_without_acquire_is_reported(tmp_path: Path) -> None:
    """As in the SDK, acquire is abstract: the declaration is invalid, and check names the method."""
    root = write_dir(tmp_path / "sdk_half", {"half.py": SDK_WITHOUT_ACQUIRE})
    result = invoke("check", "--dir", str(root))
    assert result.exit_code == 1
    line = line_of(root / "half.py", "@register_function_block")
    assert (
        f"sdk_half/half.py:{line}: invalid function block sdk_half.half.Half (devtools.probes/half:1.0.0)"
        in (result.stdout)
    )
    assert "- the class does not implement acquire()" in result.stdout


def test_an_unported_sdk_block_points_at_port(tmp_path: Path) -> None:
    """A block importing the SDK, which is not installed, fails to import with a hint to port it."""
    if importlib.util.find_spec("neops_worker_sdk") is not None:
        pytest.skip("the vendor SDK is installed here, so its imports succeed")
    root = write_dir(
        tmp_path / "unported", {"old.py": "from neops_worker_sdk.workflow import WorkflowContext\n"}
    )
    result = invoke("check", "--dir", str(root))
    assert result.exit_code == 1
    assert "unported/old.py:1: failed to import: ModuleNotFoundError: No module named 'neops_worker_sdk'" in (
        result.stdout
    )
    assert "'neops_worker port' rewrites its imports" in " ".join(result.stdout.split())


def test_check_says_which_blocks_are_reversible_and_why(tmp_path: Path) -> None:
    """A block with a rollback is reversible unless it declares otherwise; both are named, why included."""
    root = write_dir(
        tmp_path / "undo",
        {
            "undoable.py": with_rollback(block_source(name="undoable", cls="Undoable")),
            "kept.py": with_rollback(block_source(name="kept", cls="Kept"), reversible=False),
            "plain.py": block_source(name="plain", cls="Plain"),
        },
    )
    result = invoke("check", "--dir", str(root))
    assert result.exit_code == 0, result.output
    assert "devtools.probes/undoable:1.0.0: reversible (implements rollback)" in result.stdout
    kept = "devtools.probes/kept:1.0.0: not reversible (declared, though it implements rollback)"
    assert kept in result.stdout
    assert "devtools.probes/plain:1.0.0" not in result.stdout
    assert "OK: 3 function block(s) in 3 module(s), 1 reversible, no problems." in result.stdout
    body = json.loads(invoke("check", "--json", "--dir", str(root)).stdout)
    assert body["reversible"] == ["devtools.probes/undoable:1.0.0"]
