"""Blocks that misbehave the way real device libraries and helpers do (for the isolation tests)."""

from __future__ import annotations

import ctypes
import os
import sys
import time
from pathlib import Path

from neops_worker import (
    FunctionBlock,
    FunctionBlockParams,
    FunctionBlockResult,
    FunctionBlockResultData,
    PermanentFailure,
    Registration,
    WorkflowContext,
    register_function_block,
)

#: Memory a block keeps for the life of its process (a module-level cache).
_CACHE: list[bytes] = []


class Params(FunctionBlockParams):
    """What to do wrong, and for how long."""

    mode: str = "ok"
    seconds: float = 0
    path: str = ""
    mib: int = 0


class Facts(FunctionBlockResultData):
    """Which process ran the job, and how big it was afterwards."""

    pid: int
    rss_mib: float


def _rss_mib() -> float:
    with open("/proc/self/statm", "rb") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024 / 1024


def _misbehave(params: Params, context: WorkflowContext) -> None:
    if params.path:
        Path(params.path).with_suffix(".pid").write_text(str(os.getpid()))
    if params.mode == "sys_exit":
        sys.exit(3)
    if params.mode == "os_exit":
        os._exit(4)
    if params.mode == "segfault":
        ctypes.string_at(0)
    if params.mode == "sleep":
        time.sleep(params.seconds)
    if params.mode == "hang":
        time.sleep(params.seconds)
        Path(params.path).write_text("a late change")
    if params.mode == "hold_gil":
        ctypes.PyDLL(None).sleep(int(params.seconds))  # one C call that keeps the GIL
    if params.mode == "keep_memory":
        _CACHE.append(b"\x01" * (params.mib * 1024 * 1024))
    if params.mode == "permanent":
        raise PermanentFailure("the device rejects this configuration as invalid")
    if params.mode == "chatty":  # more than a pipe holds, the device's password in every line
        for line in range(params.mib):
            print(f"line {line}: logging in as {context.devices[0].username}:{context.devices[0].password}")
        print(f"done as {context.devices[0].password}", end="")  # no newline: the job's last words
    if params.mode == "leak_password":
        device = context.devices[0]
        raise ConnectionError(f"auth failed for {device.username}:{device.password}@{device.ip}")


@register_function_block(
    Registration(
        name="misbehave",
        package="fb.tests.isolation",
        description="Exits, crashes, hangs, holds the GIL, keeps memory or leaks a password, on request",
        run_on="global",
        fb_type="configure",
    )
)
class Misbehave(FunctionBlock[Params, Facts]):
    """Does what ``mode`` says, then reports its process."""

    def run(self, params: Params, context: WorkflowContext) -> FunctionBlockResult[Facts]:
        """Misbehave (or not), then say which process ran the job."""
        print(f"misbehaving: {params.mode}", flush=True)
        _misbehave(params, context)
        return FunctionBlockResult(
            success=True, message=f"done: {params.mode}", data=Facts(pid=os.getpid(), rss_mib=_rss_mib())
        )
