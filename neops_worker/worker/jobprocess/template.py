"""The template process: imports the blocks once, tells the daemon what it found, forks job processes.

Forked from the daemon at its start, or spawned (``python -m neops_worker.worker.jobprocess``), with
one end of a Unix socket pair (``launch``). It discovers the blocks of ``DIR_FUNCTION_BLOCKS``,
sending each block's registration body as its module is imported (``block``) and the outcome at
the end (``discovered``), then waits: on ``fork`` (carrying the job socket and the output
pipe) it forks a job process from its own, already imported memory — a replacement is ready in
milliseconds, whatever the number of blocks, and shares the template's pages. It never runs a job
itself; it reaps its children and reports how each ended (``exited``), reaps what their blocks
left behind, dies with the daemon, and kills its children when the daemon's end of the socket
closes.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import selectors
import signal
import socket
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from neops_worker import tracing
from neops_worker.errors import DiscoveryError
from neops_worker.scrub import set_secret_keys
from neops_worker.worker.jobprocess import child, osproc
from neops_worker.worker.jobprocess.frames import FrameBuffer, FrameSocket, Message, recv_with_fds
from neops_worker.worker.jobprocess.logs import install_forwarding

if TYPE_CHECKING:
    from neops_worker.discovery import DiscoveredBlock


def main(argv: list[str] | None = None) -> None:
    """Entry point: ``python -m neops_worker.worker.jobprocess CONFIG_JSON``."""
    serve(json.loads((argv or sys.argv)[1]))


def serve(config: dict[str, Any], blocks: Sequence[DiscoveredBlock] | None = None) -> None:
    """Discover, report, then fork job processes until the daemon hangs up (``launch.template_config``).

    ``blocks`` (a template forked by the testing kit): serve these instead of discovering.
    """
    osproc.die_with_parent()
    if os.getppid() != config["parent"]:
        return
    # Orphans of job processes (what a block started) come to us to be reaped, not to the daemon,
    # which is PID 1 in a container and reaps only its own children.
    osproc.become_subreaper()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    ctrl = socket.socket(fileno=config["fd"])
    channel = FrameSocket(ctrl)
    install_forwarding(channel.send, config["log_level"])
    set_secret_keys(config.get("secret_keys", ()))  # a spawned template has not inherited them
    tracing.preload()  # job processes fork with the exporter imported (nothing without OTEL_*)
    with contextlib.suppress(ConnectionError):  # the daemon hung up: it is stopping, so do we
        registry = _discover(channel, config) if blocks is None else _given(channel, blocks)
        if registry is not None:
            Template(ctrl, channel, registry, config["log_level"]).serve()


def _discover(channel: FrameSocket, config: dict[str, Any]) -> Any:
    """Discovery, with its outcome sent to the daemon; the registry, or None when it failed."""
    from neops_worker.discovery import discover
    from neops_worker.registry import Registry, registration_body

    def found(block: Any) -> None:  # each block as its module is imported: registered meanwhile
        channel.send({"t": "block", "body": registration_body(block, None).to_wire()})

    report = discover(config["dirs"], found)
    problems = [{"text": str(p), "detail": p.detail} for p in report.problems]
    try:
        registry = Registry.from_report(report, skip_broken=config["skip_broken"])
    except DiscoveryError as exc:
        channel.send({"t": "discovered", "problems": problems, "error": exc.problems})
        return None
    channel.send({"t": "discovered", "problems": problems, "error": None})
    return registry


def _given(channel: FrameSocket, blocks: Sequence[DiscoveredBlock]) -> Any:
    """The registry of blocks imported already, reported as a discovery that found them."""
    from neops_worker.registry import Registry, registration_body

    for block in blocks:
        channel.send({"t": "block", "body": registration_body(block, None).to_wire()})
    channel.send({"t": "discovered", "problems": [], "error": None})
    return Registry(list(blocks))


class Template:
    """The fork server: one select loop over the daemon's socket and SIGCHLD."""

    def __init__(self, ctrl: socket.socket, channel: FrameSocket, registry: Any, log_level: str) -> None:
        self.ctrl = ctrl
        self.channel = channel
        self.registry = registry
        self.log_level = log_level
        self.children: set[int] = set()
        self._wake_r, self._wake_w = os.pipe()

    def serve(self) -> None:
        """Fork on request and report deaths until the daemon hangs up; then kill what is left."""
        os.set_blocking(self._wake_w, False)
        signal.set_wakeup_fd(self._wake_w)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        gc.freeze()  # what was imported stays shared with the job processes (fewer copied pages)
        selector = selectors.DefaultSelector()
        selector.register(self.ctrl, selectors.EVENT_READ)
        selector.register(self._wake_r, selectors.EVENT_READ)
        buffer, fds = FrameBuffer(), list[int]()
        try:
            while self._step(selector, buffer, fds):
                pass
        finally:
            for pid in self.children:
                osproc.kill_group(pid, signal.SIGKILL)

    def _step(self, selector: selectors.BaseSelector, buffer: FrameBuffer, fds: list[int]) -> bool:
        for key, _events in selector.select():
            if key.fileobj == self._wake_r:
                with contextlib.suppress(BlockingIOError):
                    os.read(self._wake_r, 512)
                self._reap()
                continue
            messages = recv_with_fds(self.ctrl, buffer, fds)
            if messages is None:
                return False
            for message in messages:
                self._handle(message, fds)
        return True

    def _handle(self, message: Message, fds: list[int]) -> None:
        if message["t"] == "fork":
            job_fd, out_fd = fds.pop(0), fds.pop(0)
            self._fork(job_fd, out_fd)

    def _fork(self, job_fd: int, out_fd: int) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            self._become_child()
            child.serve(job_fd, out_fd, self.registry, os.getppid(), self.log_level)
        with contextlib.suppress(OSError):
            os.setpgid(pid, pid)  # also done by the child: whoever runs first, the group exists
        os.close(job_fd)
        os.close(out_fd)
        self.children.add(pid)
        self.channel.send({"t": "forked", "pid": pid})

    def _become_child(self) -> None:
        """Drop what belongs to the template: its socket to the daemon and its wake-up pipe."""
        for fd in (self.ctrl.detach(), self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid in self.children:
                self.children.discard(pid)
                osproc.kill_group(pid, signal.SIGKILL)  # what the block started dies with its job
            self.channel.send({"t": "exited", "pid": pid, "status": status})
