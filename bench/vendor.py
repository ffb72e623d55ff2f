"""The vendor SDK's own worker (``neops_worker_sdk``), run beside ours with equivalent blocks.

It runs from the side-by-side environment ``.venv-sdk`` that ``.ci/run`` builds (Python 3.12, the
project synced, then the SDK installed after it from ``tests/sdk_side/requirements.txt``, which
replaces the project's ``neops_worker`` script with the SDK's). Where that environment is missing,
or its script is not the SDK's, :func:`unavailable` says why and the benchmarks leave the SDK out.

The SDK's worker logs through loguru to stdout; "Worker ready and listening for jobs" is its line
once the worker and all its blocks are registered, just before its poll loop starts.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from bench.bench_worker import generate_blocks
from bench.common import ROOT, WorkerRun, worker_settings
from neops_worker.devkit.local_engine import process as child

SDK_ENV = ROOT / ".venv-sdk"
SDK_SCRIPT = SDK_ENV / "bin" / "neops_worker"
#: The SDK worker's log line once its registrations are done and it starts polling.
SDK_READY_LINE = "Worker ready and listening for jobs"


def unavailable() -> str | None:
    """Why the SDK's worker cannot be run here, or None when it can."""
    if not SDK_SCRIPT.is_file():
        return "`.venv-sdk` is missing (`.ci/run` builds it where pyenv has a Python 3.12)"
    if "neops_worker_sdk" not in SDK_SCRIPT.read_text(errors="replace"):
        return "`.venv-sdk/bin/neops_worker` is not the SDK's (`.ci/run` installs the SDK after the project)"
    return None


def sdk_version() -> str:
    """The installed SDK's version, from its distribution metadata ("unknown" if not found)."""
    for metadata in SDK_ENV.glob("lib/python*/site-packages/neops_worker_sdk-*.dist-info/METADATA"):
        for line in metadata.read_text().splitlines():
            if line.startswith("Version:"):
                return line.split(":", 1)[1].strip()
    return "unknown"


def sdk_python() -> str:
    """The side-by-side environment's Python version, from its ``pyvenv.cfg`` ("unknown" if not found)."""
    with contextlib.suppress(OSError):
        for line in (SDK_ENV / "pyvenv.cfg").read_text().splitlines():
            name, _, value = line.partition("=")
            if name.strip() == "version_info":
                return value.strip()
    return "unknown"


def generate_sdk_blocks(directory: Path, count: int) -> Path:
    """Write ``count`` blocks for the SDK, the twins of ``bench_worker.generate_blocks``' (same ids)."""
    return generate_blocks(directory, count, _GENERATED)


# The smallest block the SDK accepts: ``run`` and ``acquire`` are both abstract and async there, and
# its Registration names the parameter and result classes.
_GENERATED = '''"""Generated block {i}, written for the vendor SDK."""

from neops_worker_sdk.function_block.acquire_params import AcquireParams
from neops_worker_sdk.function_block.function_block import (
    FunctionBlock,
    FunctionBlockAcquireResult,
    FunctionBlockParams,
    FunctionBlockResult,
    FunctionBlockResultData,
)
from neops_worker_sdk.registry.decorator import register_function_block
from neops_worker_sdk.registry.registration import Registration
from neops_worker_sdk.workflow import WorkflowContext


class Params{i}(FunctionBlockParams):
    """Parameters of block {i}."""

    value: int = 0


class Result{i}(FunctionBlockResultData):
    """Result of block {i}."""

    value: int


@register_function_block(
    Registration(
        name="gen_{i:03d}",
        package="bench.generated",
        description="Block {i}",
        run_on="global",
        fb_type="none",
        param_cls=Params{i},
        result_cls=Result{i},
    )
)
class Gen{i}(FunctionBlock[Params{i}, Result{i}]):
    """Returns its value."""

    async def run(self, params: Params{i}, context: WorkflowContext) -> FunctionBlockResult[Result{i}]:
        """Echo the value."""
        return FunctionBlockResult(success=True, message="ok", data=Result{i}(value=params.value))

    async def acquire(self, params: AcquireParams[Params{i}]) -> FunctionBlockAcquireResult:
        """Nothing to acquire."""
        return FunctionBlockAcquireResult(success=True, message="nothing to acquire")
'''


class VendorRun(WorkerRun):
    """The SDK's worker process, its log lines kept with their arrival time, read as a ``WorkerRun``'s.

    It gets the same settings as a benchmarked ``neops_worker`` (``worker_settings``) and inherits as
    little of this environment as that one does; it logs to stdout, and its stderr (aiohttp's warnings)
    is merged into it. ``WorkerRun.__init__`` is not called: it would start our worker.
    """

    def __init__(self, url: str, blocks: Path, cwd: str | Path, **extra: Any) -> None:
        env = child.worker_env(worker_settings(url, blocks, **extra), keep=child.BASIC_VARIABLES.__contains__)
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            [str(SDK_SCRIPT)],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[tuple[float, str]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append((time.perf_counter(), line.rstrip("\n")))
