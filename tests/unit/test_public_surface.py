"""The public surface: what ``neops_worker`` exports, and what the daemon's entry point imports."""

from __future__ import annotations

import json
import subprocess
import sys

import neops_worker

#: The block-author surface. Changing it is an API change: update this list on purpose.
PUBLIC = [
    "AcquireByElasticQuery",
    "AcquireFromContext",
    "Device",
    "DeviceGroup",
    "FunctionBlock",
    "FunctionBlockAcquireResult",
    "FunctionBlockParams",
    "FunctionBlockResult",
    "FunctionBlockResultData",
    "FunctionBlockRollbackResult",
    "Interface",
    "JobMeta",
    "PermanentFailure",
    "Registration",
    "Sensitive",
    "WorkflowContext",
    "__version__",
    "register_function_block",
]

#: Modules of the development kit and libraries only it needs: a worker in production loads none.
DEVELOPMENT_KIT = (
    "neops_worker.devkit",
    "neops_worker.cli.blocks",
    "neops_worker.cli.local",
    "neops_worker.cli.demo",
    "neops_worker.testing",
    "neops_worker.sdk",
    "starlette",
    "uvicorn",
    "sqlite3",
    "libcst",
    "watchfiles",
)


def test_all_is_pinned_and_every_name_resolves() -> None:
    """``__all__`` is exactly the documented surface, and each name imports."""
    assert neops_worker.__all__ == PUBLIC
    assert all(getattr(neops_worker, name) is not None for name in PUBLIC)


def _loaded_after(statement: str) -> list[str]:
    code = f"import sys; {statement}; import json; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return list(json.loads(done.stdout))


def test_the_daemon_entry_point_loads_no_development_kit() -> None:
    """``import neops_worker.cli`` (and the runtime it starts) imports no development-kit module."""
    loaded = _loaded_after(
        "import neops_worker.cli, neops_worker.runtime, neops_worker.worker.jobprocess.supervisor"
    )
    kit = [name for name in loaded if name.startswith(DEVELOPMENT_KIT)]
    assert kit == []


def test_a_process_mode_daemon_loads_no_authoring_api() -> None:
    """The process-mode daemon imports neither the block models nor discovery: blocks live elsewhere."""
    loaded = _loaded_after("import neops_worker.runtime, neops_worker.worker.jobprocess.supervisor")
    assert [n for n in loaded if n.startswith(("neops_worker.blocks", "neops_worker.discovery"))] == []


def test_the_worker_leaves_out_the_command_line_tool_of_httpx() -> None:
    """httpx's own CLI (click, rich's syntax highlighting, pygments) is never loaded by the daemon."""
    code = (
        "import sys, neops_worker.runtime, neops_worker.worker.jobprocess.supervisor, httpx; "
        "print(sys.modules['httpx._main'] is None, any(m.startswith('pygments') for m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["True", "False"]
