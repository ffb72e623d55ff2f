"""Signatures read at discovery: how each entry point is called, and which cannot be (with file and line)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from neops_worker import FunctionBlock, FunctionBlockParams, FunctionBlockResultData, Registration
from neops_worker.blocks.calls import BlockCalls, Call
from neops_worker.blocks.registration import FunctionBlockDefinitionError, register_function_block
from neops_worker.devkit.local_engine.process import worker_command, worker_env
from neops_worker.discovery import DiscoveredBlock, discover
from neops_worker.engine.wire import JobDefinition
from neops_worker.worker.execution import execute_job
from tests.devtools.blockdirs import block_source, invoke, line_of, write_dir

#: ``block_source``'s run, and the same run needing a fourth argument the worker never passes.
RUN = "    def run(self, params: Params, context: WorkflowContext) -> FunctionBlockResult[Result]:\n"
#: What a problem of a parameter the worker never passes says to do.
FIX = "(give it a default, or remove it)"
NEEDS_EXTRA = RUN.replace("context: WorkflowContext)", "context: WorkflowContext, meta: object, extra: int)")


def needing_extra(**names: Any) -> str:
    """A module whose block's ``run`` needs ``extra`` besides params, context and meta."""
    source = block_source(**names)
    assert RUN in source
    assert NEEDS_EXTRA != RUN
    return source.replace(RUN, NEEDS_EXTRA)


def calls_of(body: str) -> BlockCalls:
    """The calls of a block class whose body is ``body`` (methods indented by four spaces)."""
    namespace: dict[str, Any] = {"FunctionBlock": FunctionBlock}
    exec(f"class Probe(FunctionBlock):\n{body}", namespace)
    return BlockCalls.of(namespace["Probe"])


@pytest.mark.parametrize(
    ("body", "run", "acquire", "rollback"),
    [
        ("    pass\n", ("params", "context"), ("params",), ("params", "context", "result_from_failed")),
        (
            "    def run(self, params, context, meta): pass\n"
            "    def acquire(self, params, meta): pass\n"
            "    def rollback(self, params, context, meta): pass\n",
            ("params", "context", "meta"),
            ("params", "meta"),
            ("params", "context", "meta"),
        ),
        (
            "    def run(self, params, context, _meta=None): pass\n"
            "    def rollback(self, params, context, result_from_failed, job_meta): pass\n",
            ("params", "context", "meta"),
            ("params",),
            ("params", "context", "result_from_failed", "meta"),
        ),
        (
            "    def run(self, *args, **kwargs): pass\n    def rollback(self, params, context): pass\n",
            ("params", "context"),
            ("params",),
            ("params", "context"),
        ),
    ],
)
def test_what_each_signature_is_given(
    body: str, run: tuple[str, ...], acquire: tuple[str, ...], rollback: tuple[str, ...]
) -> None:
    """By position in the worker's order; a parameter named ``meta`` takes it; ``*args`` gets the old call."""
    calls = calls_of(body)
    assert (calls.run, calls.acquire, calls.rollback, calls.problems) == (
        Call(run),
        Call(acquire),
        Call(rollback),
        (),
    )


def test_meta_by_keyword() -> None:
    """``run(self, params, context, *, meta)`` is given it by keyword."""
    calls = calls_of("    def run(self, params, context, *, meta): pass\n")
    assert calls.run == Call(("params", "context"), ("meta",))
    assert calls.run.wants_meta


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (
            "    def run(self, params, context, meta, extra): pass\n",
            f"run(self, params, context, meta, extra) needs 'extra', which the worker never passes {FIX}",
        ),
        (
            "    def run(self, params, context, extra, meta): pass\n",
            f"run(self, params, context, extra, meta) needs 'extra', which the worker never passes {FIX}",
        ),
        (
            "    def run(self, params): pass\n",
            "run(self, params) takes no 'context', which the worker always passes "
            "(it calls run(params, context[, meta]))",
        ),
        (
            "    def acquire(self): pass\n",
            "acquire(self) takes no 'params', which the worker always passes "
            "(it calls acquire(params[, meta]))",
        ),
        (
            "    def rollback(self, params, context, *, token): pass\n",
            f"rollback(self, params, context, *, token) needs 'token', which the worker never passes {FIX}",
        ),
    ],
)
def test_a_method_that_cannot_be_called_is_a_problem(body: str, problem: str) -> None:
    """Too many required parameters, or too few to take what the worker always passes."""
    (found,) = calls_of(body).problems
    assert found.text == problem
    assert (found.file, found.line) == (Path("<string>"), 2)


def test_discovery_reports_it_at_the_line_of_the_def(tmp_path: Path) -> None:
    """A problem of the module, at the def's file and line; the module is broken, the others are served."""
    root = write_dir(tmp_path / "sigs", {"extra.py": needing_extra(), "fine.py": block_source(name="fine")})
    report = discover([root])
    (problem,) = report.problems
    assert (problem.path, problem.line) == (root / "extra.py", line_of(root / "extra.py", "def run("))
    assert problem.message == (
        "invalid function block sigs.extra.Probe (devtools.probes/probe:1.0.0): "
        f"run(self, params, context, meta, extra) needs 'extra', which the worker never passes {FIX}"
    )
    assert [block.fb_id for block in report.blocks] == ["devtools.probes/fine:1.0.0"]
    assert "sigs.extra" not in sys.modules


def test_an_inherited_method_is_reported_where_it_is_defined(tmp_path: Path) -> None:
    """A block inheriting an uncallable ``acquire`` from a base in another file: that file and line."""
    base = "class Base:\n    def acquire(self, params, meta, token):\n        pass\n"
    source = block_source().replace(
        "(FunctionBlock[Params, Result])", "(Base, FunctionBlock[Params, Result])"
    )
    root = write_dir(
        tmp_path / "inherits", {"base.py": base, "block.py": "from inherits.base import Base\n" + source}
    )
    (problem,) = discover([root]).problems
    assert (problem.path, problem.line) == (root / "base.py", 2)
    assert problem.reasons == (
        f"acquire(self, params, meta, token) needs 'token', which the worker never passes {FIX}",
    )


def test_the_decorator_refuses_it_outside_discovery() -> None:
    """Declared anywhere else, the block raises at once, the method's file and line in the reason."""
    with pytest.raises(FunctionBlockDefinitionError) as caught:

        @register_function_block(Registration(name="x", package="p", description="d"))
        class Needy(FunctionBlock[FunctionBlockParams, FunctionBlockResultData]):
            def run(self, params: object, context: object, meta: object, extra: object) -> Any:
                """Never called."""

    line = line_of(Path(__file__), "def run(self, params: object, context: object, meta: object, extra")
    reason = f"run(self, params, context, meta, extra) needs 'extra', which the worker never passes {FIX}"
    assert caught.value.problems == [f"{reason} (at {__file__}:{line})"]


async def test_a_block_that_bypassed_discovery_is_refused_not_called() -> None:
    """Run without discovery (a hand-made DiscoveredBlock): a rejected job naming the problem."""
    namespace: dict[str, Any] = {"FunctionBlock": FunctionBlock, "Registration": Registration}
    exec("class Needy(FunctionBlock):\n    def run(self, params, context, meta, extra): pass\n", namespace)
    cls = namespace["Needy"]
    registration = Registration(name="needy", package="p", description="d", param_cls=FunctionBlockParams)
    block = DiscoveredBlock(cls, registration, "m", Path("m.py"))
    job = JobDefinition.model_validate({"functionBlockId": "p/needy:1.0.0", "jobId": "j", "type": "execute"})
    outcome = await execute_job(job, lambda _: block)
    assert outcome.outcome == "rejected"
    assert outcome.result.result.message == (
        "Function block p/needy:1.0.0 cannot be called: run(self, params, context, meta, extra) "
        f"needs 'extra', which the worker never passes {FIX} (at <string>:2)"
    )


def test_check_reports_it_with_file_and_line(tmp_path: Path) -> None:
    """The real ``neops_worker check``: the def's file:line, the block, the reason, and exit 1."""
    root = write_dir(
        tmp_path / "blocks", {"x.py": needing_extra(name="x", package="fb"), "ok.py": block_source()}
    )
    done = subprocess.run(
        [*worker_command(), "check", "--dir", str(root)],
        cwd=tmp_path,
        env=worker_env({}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    line = line_of(root / "x.py", "def run(")
    assert f"blocks/x.py:{line}: invalid function block blocks.x.Probe (fb/x:1.0.0)\n" in done.stdout
    assert (
        f"    - run(self, params, context, meta, extra) needs 'extra', which the worker never passes {FIX}\n"
        in done.stdout
    )
    assert "1 problem(s); 1 function block(s) in 1 module(s)." in done.stdout


def test_blocks_warns_of_it(tmp_path: Path) -> None:
    """``neops_worker blocks`` lists the other blocks and warns of this one, with file and line."""
    root = write_dir(tmp_path / "listed", {"x.py": needing_extra(name="x"), "ok.py": block_source(name="ok")})
    result = invoke("blocks", "--dir", str(root))
    assert result.exit_code == 0, result.output
    assert "devtools.probes/ok:1.0.0" in result.stdout
    line = line_of(root / "x.py", "def run(")
    assert (
        f"listed/x.py:{line}: invalid function block listed.x.Probe (devtools.probes/x:1.0.0)"
        in result.stderr
    )
    assert "needs 'extra', which the worker never passes" in result.stderr
