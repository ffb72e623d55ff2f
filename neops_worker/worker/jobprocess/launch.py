"""How the template process comes to be, and how the daemon learns that it ended.

Two ways, the same result (a pid, the daemon's end of the control socket, the read end of the
template's output):

* ``fork_template``: forked from the daemon itself at start, before its event loop and before any
  thread exists (the only moment a fork of the daemon is safe). The template begins with
  everything the daemon has already imported (pydantic, the wire models) instead of importing it
  again in a new interpreter, and shares those pages with the daemon.
* ``spawn_template``: a fresh interpreter (``python -m neops_worker.worker.jobprocess``), for when
  no early fork was made (a worker composed inside a running loop) and to replace a template that
  died, when the daemon has threads and must not fork.

The testing kit forks one more way (``fork_serving``): a template that serves the blocks a test
imported, without discovery.

Either way the template is the daemon's own child, reaped by ``wait_for_exit``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import socket
import sys
import threading
import traceback
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from neops_worker.settings import Settings

if TYPE_CHECKING:
    from neops_worker.discovery import DiscoveredBlock

#: How often ``wait_for_exit`` looks when the kernel cannot tell it (no pidfd).
_POLL_S = 0.05


@dataclass
class Launched:
    """A template process just started: its pid, our end of its control socket, its output."""

    pid: int
    control: socket.socket
    output_fd: int

    def close(self) -> None:
        """Drop our ends (a launch that will not be used); the template then exits on its own."""
        self.control.close()
        with contextlib.suppress(OSError):
            os.close(self.output_fd)


def template_config(settings: Settings, fd: int) -> dict[str, Any]:
    """What the template needs to know: where the blocks are, how to log, its socket, its parent."""
    return {
        "dirs": settings.dir_function_blocks,
        "skip_broken": settings.skip_broken_modules,
        "log_level": settings.log_level,
        "secret_keys": settings.log_redact_extra_keys,
        "fd": fd,
        "parent": os.getpid(),
    }


def fork_template(settings: Settings) -> Launched | None:
    """Fork the template from this process now; None when that is unsafe (threads run) or fails."""
    if threading.active_count() > 1 or not hasattr(os, "fork"):
        return None
    # What exists now is the daemon's long-lived state (modules, classes): out of the collector's
    # reach in both processes, so that neither copies the other's pages by collecting them.
    gc.freeze()
    launched = _fork(settings, None)
    if launched is None:
        gc.unfreeze()
    return launched


def fork_serving(settings: Settings, blocks: Sequence[DiscoveredBlock]) -> Launched | None:
    """A template forked from this process that serves ``blocks`` as imported here (no discovery).

    The testing kit's (``isolation="process"``): the job processes run the very classes a test
    imported or declared, with the test's state as of the fork. Forked even inside a running event
    loop and while threads run, as multiprocessing's ``fork`` start method does: the template only
    serves forks, and its job processes start a loop of their own and run one block, inline.
    """
    with warnings.catch_warnings():
        # Python 3.12 and later warn of any fork while threads run (a test process's usually do).
        warnings.filterwarnings("ignore", message=".*multi-threaded.*fork", category=DeprecationWarning)
        return _fork(settings, blocks)


def _fork(settings: Settings, blocks: Sequence[DiscoveredBlock] | None) -> Launched | None:
    """Fork a template serving ``blocks`` (None: discovering DIR_FUNCTION_BLOCKS); None if the fork fails."""
    ours, theirs = socket.socketpair()
    out_r, out_w = os.pipe()
    config = template_config(settings, theirs.fileno())
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        pid = os.fork()
    except OSError:  # no process to be had now (EAGAIN, ENOMEM): the runner spawns one later
        for end in (ours, theirs):
            end.close()
        for fd in (out_r, out_w):
            os.close(fd)
        return None
    if pid == 0:  # the child: it owns neither our end of the socket nor the pipe's read end
        theirs.detach()  # the template wraps that descriptor itself
        _run_forked(config, drop=(ours.detach(), out_r), output=out_w, blocks=blocks)
    theirs.close()
    os.close(out_w)
    return Launched(pid, ours, out_r)


def _run_forked(
    config: dict[str, Any], drop: tuple[int, ...], output: int, blocks: Sequence[DiscoveredBlock] | None
) -> None:
    """In the forked child: stdin from /dev/null, output to the daemon's pipe, serve; never returns."""
    code = 1
    try:
        asyncio.events._set_running_loop(None)  # forked inside a running loop (a test's): not ours
        for fd in drop:
            os.close(fd)
        os.setsid()  # a session of its own, as the spawned template gets: the terminal's Ctrl-C is not for it
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.close(output)
        _streams_on_descriptors()
        from neops_worker.worker.jobprocess.template import serve

        serve(config, blocks)
        code = 0
    except BaseException:
        with contextlib.suppress(Exception):
            traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)  # never back into the daemon's code, its atexit hooks or its finalizers


def _streams_on_descriptors() -> None:
    """``sys.stdout``/``sys.stderr`` that write to descriptors 1 and 2, as in a new interpreter.

    The daemon's may be something else (a test runner's capture); what the template and its job
    processes print must reach the output pipe all the same.
    """
    for fd, name in ((1, "stdout"), (2, "stderr")):
        stream = getattr(sys, name)
        try:
            bound = stream is not None and stream.fileno() == fd
        except (AttributeError, ValueError, OSError):
            bound = False
        if not bound:  # kept open for the life of the process, as sys.stdout always is
            setattr(sys, name, open(fd, "w", buffering=1, errors="backslashreplace", closefd=False))  # noqa: SIM115


def spawn_template(settings: Settings) -> Launched:
    """Start the template as a new interpreter (safe with threads running: no fork of this process)."""
    ours, theirs = socket.socketpair()
    out_r, out_w = os.pipe()
    try:
        os.set_inheritable(theirs.fileno(), True)
        argv = [sys.executable, "-m", "neops_worker.worker.jobprocess"]
        argv.append(json.dumps(template_config(settings, theirs.fileno())))
        devnull = os.open(os.devnull, os.O_RDONLY)
        try:
            pid = os.posix_spawn(
                sys.executable,
                argv,
                os.environ,
                file_actions=[
                    (os.POSIX_SPAWN_DUP2, devnull, 0),
                    (os.POSIX_SPAWN_DUP2, out_w, 1),
                    (os.POSIX_SPAWN_DUP2, out_w, 2),
                ],
                setsid=True,
            )
        finally:
            os.close(devnull)
    except BaseException:
        ours.close()
        os.close(out_r)
        raise
    finally:
        theirs.close()
        os.close(out_w)
    return Launched(pid, ours, out_r)


async def wait_for_exit(pid: int) -> int:
    """The exit code of our child ``pid`` once it has ended (``-N``: killed by signal N)."""
    pidfd = _pidfd(pid)
    try:
        while (code := _reaped(pid)) is None:
            await (_readable(pidfd) if pidfd is not None else asyncio.sleep(_POLL_S))
        return code
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _reaped(pid: int) -> int | None:
    """Its exit code if it has ended (reaping it), else None; never blocks."""
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return -1  # reaped elsewhere: ended, status unknown
    return os.waitstatus_to_exitcode(status) if done else None


async def _readable(fd: int) -> None:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, wake)
    try:
        await ready
    finally:
        loop.remove_reader(fd)


def _pidfd(pid: int) -> int | None:
    """A descriptor that becomes readable when ``pid`` ends (Linux 5.3 and later), else None."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None
