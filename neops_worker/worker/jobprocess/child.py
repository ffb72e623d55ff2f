"""The job process: forked from the template, it runs one job at a time, inline, until told to go.

It ignores SIGINT and SIGTERM (a terminal's Ctrl-C reaches the whole process group; signals are
for the daemon), dies with its template (``PR_SET_PDEATHSIG``), leads a process group of its own
(so a kill reaches what the block started), and writes everything it prints to the daemon's
output pipe. A SIGTERM counts only when the daemon asked for it first with a ``stop`` message:
then the block is interrupted like Ctrl-C would (its ``finally`` blocks run) and the process exits;
SIGKILL follows after a short grace.
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import os
import signal
import socket
import sys
from types import FrameType
from typing import Any

from neops_worker import tracing
from neops_worker.engine.wire import JobDefinition
from neops_worker.registry import Registry
from neops_worker.scrub import scrub_standard_streams
from neops_worker.worker.execution import JobAborted, execute_job
from neops_worker.worker.jobprocess import osproc
from neops_worker.worker.jobprocess.frames import STOP_FRAME, FrameSocket
from neops_worker.worker.jobprocess.logs import install_forwarding

#: Exit code of a job process whose template was gone before it could start.
ORPHANED = 70


def serve(job_fd: int, out_fd: int, registry: Registry, template_pid: int, log_level: str) -> None:
    """Run jobs until the daemon closes the channel; never returns (the process exits)."""
    try:
        channel = _prepare(job_fd, out_fd, template_pid, log_level)
        _job_loop(channel, registry)
    except JobAborted:
        pass
    finally:
        _flush()
        tracing.flush()  # the spans its blocks made: nothing else would export them (os._exit)
        os._exit(0)  # not sys.exit: atexit hooks inherited from the template are not ours to run


def _prepare(job_fd: int, out_fd: int, template_pid: int, log_level: str) -> FrameSocket:
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)
    osproc.die_with_parent()
    if os.getppid() != template_pid:
        os._exit(ORPHANED)
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.dup2(out_fd, 1)
    os.dup2(out_fd, 2)
    os.close(out_fd)
    scrub_standard_streams()
    sock = socket.socket(fileno=job_fd)
    channel = FrameSocket(sock)
    install_forwarding(channel.send, log_level)
    tracing.setup_job_process()  # after the fork: no batch processor's thread crosses one
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_sigterm(sock))
    faulthandler.enable(file=sys.__stderr__ or sys.stderr, all_threads=True)
    return channel


def _job_loop(channel: FrameSocket, registry: Registry) -> None:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    while (message := channel.recv()) is not None and message["t"] == "run":
        job = JobDefinition.model_validate(message["job"])
        worker_id, worker_name = message["worker"]
        # The daemon's job span is the parent of what the block traces (its task copies this context).
        with tracing.remote_context(message.get("trace")):
            run = execute_job(
                job,
                registry.get,
                inline=True,
                worker_id=worker_id,
                worker_name=worker_name,
                deadline=message["deadline"],
            )
            outcome = loop.run_until_complete(run)
        _flush()
        channel.send(
            {
                "t": "result",
                "result": outcome.result.to_wire(),
                "outcome": outcome.outcome,
                "duration_s": outcome.duration_s,
                "rss": osproc.rss_bytes() if message.get("rss") else 0,
            }
        )


def _on_sigterm(sock: socket.socket) -> Any:
    """SIGTERM interrupts the job only when the daemon sent ``stop`` first; otherwise it is ignored."""

    def handler(signum: int, frame: FrameType | None) -> None:
        if _stop_requested(sock):
            raise JobAborted("stopped by the worker")

    return handler


def _stop_requested(sock: socket.socket) -> bool:
    try:
        pending = sock.recv(1 << 16, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return True  # the daemon is gone: nobody waits for this job any more
    return not pending or STOP_FRAME in pending


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
