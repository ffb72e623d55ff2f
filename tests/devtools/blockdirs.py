"""Real block directories for the developer-command tests, written under ``tmp_path``.

Discovery skips directories named ``test``/``tests``/``testing``, so these never live below this package.
"""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner, Result

from neops_worker.cli import app

#: The example blocks bundled with the worker.
BUNDLED = Path(__file__).resolve().parents[2] / "function_blocks"

BLOCK = '''"""A block written by the tests."""

from neops_worker import (
    FunctionBlock,
    FunctionBlockParams,
    FunctionBlockResult,
    FunctionBlockResultData,
    Registration,
    WorkflowContext,
    register_function_block,
)


class Params(FunctionBlockParams):
    text: str = "x"


class Result(FunctionBlockResultData):
    length: int


@register_function_block(
    Registration(
        name={name!r},
        package={package!r},
        description="A test block",
        run_on={run_on!r},
        version={version!r},
    )
)
class {cls}(FunctionBlock[Params, Result]):
    def run(self, params: Params, context: WorkflowContext) -> FunctionBlockResult[Result]:
        return FunctionBlockResult(success=True, message="ok", data=Result(length=len(params.text)))
'''


def block_source(
    name: str = "probe",
    package: str = "devtools.probes",
    cls: str = "Probe",
    run_on: str = "global",
    version: tuple[int, int, int] = (1, 0, 0),
) -> str:
    """The source of a module declaring one block (valid unless the arguments are not)."""
    return BLOCK.format(name=name, package=package, cls=cls, run_on=run_on, version=version)


def with_rollback(source: str, reversible: bool | None = None) -> str:
    """``source`` (of ``block_source``) whose block implements rollback, declaring ``reversible`` if given."""
    method = (
        "\n    def rollback(self, params: Params, context: WorkflowContext, result_from_failed=None):\n"
        "        from neops_worker import FunctionBlockRollbackResult\n\n"
        '        return FunctionBlockRollbackResult(success=True, message="undone")\n'
    )
    if reversible is not None:
        declared = f'description="A test block", reversible={reversible},'
        source = source.replace('description="A test block",', declared)
    return source + method


def write_dir(root: Path, files: dict[str, str]) -> Path:
    """Create ``root`` with the given ``{relative path: source}`` files; return it."""
    for relative, source in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    return root


def line_of(path: Path, text: str) -> int:
    """The 1-based number of the first line of ``path`` containing ``text``."""
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if text in line:
            return number
    raise AssertionError(f"{text!r} not in {path}")


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    """Run ``neops_worker ARGS`` in-process; stdout and stderr are kept apart."""
    return CliRunner().invoke(app, list(args), env=env)
