"""The systemd notify protocol: tell the service manager when the worker is ready, alive and stopping.

With ``Type=notify`` systemd passes ``$NOTIFY_SOCKET``, an AF_UNIX datagram socket (a leading ``@``
names the abstract namespace). Each message is a datagram of ``KEY=value`` lines. Outside systemd the
variable is unset and every call is a no-op, so the notifier can be wired in unconditionally.

The observer sends ``READY=1`` once the worker and its blocks are registered, ``WATCHDOG=1`` on every
heartbeat tick (whatever the ping's outcome: a tick proves the event loop runs), ``STOPPING=1`` when
the drain starts, and a ``STATUS=`` line at every state change.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

from neops_worker.worker.events import WorkerObserver, WorkerState

log = logging.getLogger("neops_worker.worker.observers.sdnotify")


def socket_address(value: str) -> str:
    """The address to send to: ``@name`` is the abstract socket ``\\0name``, anything else a path."""
    return "\0" + value[1:] if value.startswith("@") else value


class Notifier:
    """Sends notify messages to one socket; with no socket (not under systemd) it does nothing."""

    def __init__(self, address: str | None) -> None:
        self.address = socket_address(address) if address else None

    @property
    def enabled(self) -> bool:
        """Whether a service manager is listening."""
        return self.address is not None

    def send(self, *lines: str) -> bool:
        """Send ``lines`` as one datagram; False (and a debug line) if it could not be sent."""
        if self.address is None:
            return False
        payload = "\n".join(lines).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                # Never block the event loop on a service manager that does not read.
                sock.setblocking(False)
                sock.sendto(payload, self.address)
        except OSError as exc:
            log.debug("Could not notify the service manager (%s): %s", exc, lines)
            return False
        return True


def watchdog_enabled(environ: Mapping[str, str], pid: int) -> bool:
    """Whether systemd expects ``WATCHDOG=1`` from this process (``WATCHDOG_USEC``, ``WATCHDOG_PID``)."""
    usec = environ.get("WATCHDOG_USEC", "")
    if not usec.isdigit() or int(usec) == 0:
        return False
    owner = environ.get("WATCHDOG_PID", "")
    return not owner or owner == str(pid)


class SystemdObserver(WorkerObserver):
    """Reports the worker's life to systemd: readiness, watchdog keep-alives, stopping and status."""

    def __init__(self, notifier: Notifier, watchdog: bool) -> None:
        self.notifier = notifier
        self.watchdog = watchdog
        self._ready_sent = False

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> SystemdObserver:
        """The observer for this process, configured from ``NOTIFY_SOCKET`` and ``WATCHDOG_USEC``."""
        env = os.environ if environ is None else environ
        return cls(Notifier(env.get("NOTIFY_SOCKET")), watchdog_enabled(env, os.getpid()))

    def ready(self, worker_id: str) -> None:
        """``READY=1`` the first time; a re-registration only updates the status."""
        if self._ready_sent:
            self.notifier.send(f"STATUS=registered again as {worker_id}")
            return
        self._ready_sent = self.notifier.send("READY=1", f"STATUS=registered as {worker_id}")

    def heartbeat(self, ok: bool) -> None:
        """``WATCHDOG=1`` on every tick, if systemd asked for a watchdog."""
        if self.watchdog:
            self.notifier.send("WATCHDOG=1")

    def state_changed(self, state: WorkerState, detail: str) -> None:
        """``STATUS=`` with what the worker does; ``STOPPING=1`` as the drain starts."""
        if state is WorkerState.DRAINING:
            self.notifier.send("STOPPING=1", f"STATUS={detail}")
        else:
            self.notifier.send(f"STATUS={detail}")


__all__ = ["Notifier", "SystemdObserver", "socket_address", "watchdog_enabled"]
