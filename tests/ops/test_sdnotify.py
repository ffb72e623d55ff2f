"""The systemd notify protocol, against a real AF_UNIX datagram socket set as NOTIFY_SOCKET."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from neops_worker.runtime import extra_observers
from neops_worker.worker.events import WorkerState
from neops_worker.worker.observers.sdnotify import Notifier, SystemdObserver, socket_address, watchdog_enabled
from tests.ops.fake_engine import FakeEngine
from tests.ops.harness import SLEEP, fast_settings, running_worker, wait_until


class NotifyListener:
    """The service manager's end: a bound datagram socket that collects messages."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(socket_address(address))
        self.sock.setblocking(False)
        self.messages: list[str] = []

    def collect(self) -> list[str]:
        """Every message received so far, in order."""
        while True:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except BlockingIOError:
                return self.messages

    def lines(self) -> list[str]:
        """Every line of every message so far."""
        return [line for message in self.collect() for line in message.split("\n")]


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[NotifyListener]:
    """A notify socket on a filesystem path."""
    receiver = NotifyListener(str(tmp_path / "notify.sock"))
    yield receiver
    receiver.sock.close()


def test_socket_address_maps_at_sign_to_abstract_namespace() -> None:
    """``@name`` becomes ``\\0name``; paths stay as they are."""
    assert socket_address("@systemd/notify") == "\0systemd/notify"
    assert socket_address("/run/systemd/notify") == "/run/systemd/notify"


def test_notifier_sends_one_datagram_per_call(listener: NotifyListener) -> None:
    """The lines of one call arrive as one datagram, newline-separated."""
    assert Notifier(listener.address).send("READY=1", "STATUS=idle")
    assert listener.collect() == ["READY=1\nSTATUS=idle"]


def test_notifier_reaches_an_abstract_socket() -> None:
    """A ``@``-prefixed NOTIFY_SOCKET reaches a socket in the abstract namespace."""
    receiver = NotifyListener(f"@neops-test-{uuid.uuid4().hex}")
    try:
        assert Notifier(receiver.address).send("WATCHDOG=1")
        assert receiver.collect() == ["WATCHDOG=1"]
    finally:
        receiver.sock.close()


def test_notifier_without_socket_is_a_no_op() -> None:
    """Outside systemd (no NOTIFY_SOCKET) nothing is sent and nothing fails."""
    notifier = Notifier(None)
    assert not notifier.enabled
    assert notifier.send("READY=1") is False


def test_notifier_tolerates_a_missing_socket(tmp_path: Path) -> None:
    """A socket path nobody listens on makes ``send`` return False instead of raising."""
    assert Notifier(str(tmp_path / "gone.sock")).send("READY=1") is False


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, False),
        ({"WATCHDOG_USEC": "0"}, False),
        ({"WATCHDOG_USEC": "junk"}, False),
        ({"WATCHDOG_USEC": "30000000"}, True),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "4242"}, True),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, False),
    ],
)
def test_watchdog_enabled_follows_systemd_variables(environ: dict[str, str], expected: bool) -> None:
    """The watchdog is on when WATCHDOG_USEC is positive and WATCHDOG_PID is unset or ours."""
    assert watchdog_enabled(environ, pid=4242) is expected


def test_ready_is_sent_once(listener: NotifyListener) -> None:
    """A re-registration updates the status but does not repeat READY=1."""
    observer = SystemdObserver(Notifier(listener.address), watchdog=False)
    observer.ready("w-1")
    observer.ready("w-2")
    assert listener.collect() == ["READY=1\nSTATUS=registered as w-1", "STATUS=registered again as w-2"]


def test_watchdog_pings_only_when_asked(listener: NotifyListener) -> None:
    """Without WATCHDOG_USEC heartbeats send nothing; with it every tick sends WATCHDOG=1."""
    SystemdObserver(Notifier(listener.address), watchdog=False).heartbeat(True)
    watched = SystemdObserver(Notifier(listener.address), watchdog=True)
    watched.heartbeat(True)
    watched.heartbeat(False)
    assert listener.collect() == ["WATCHDOG=1", "WATCHDOG=1"]


def test_draining_sends_stopping(listener: NotifyListener) -> None:
    """The drain state sends STOPPING=1 with its status line."""
    SystemdObserver(Notifier(listener.address), watchdog=False).state_changed(
        WorkerState.DRAINING, "draining: no job"
    )
    assert listener.collect() == ["STOPPING=1\nSTATUS=draining: no job"]


def test_composition_root_adds_the_notifier_only_under_systemd(monkeypatch: pytest.MonkeyPatch) -> None:
    """``extra_observers`` includes the systemd observer only when NOTIFY_SOCKET is set."""
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert not any(isinstance(o, SystemdObserver) for o in extra_observers(fast_settings()))
    monkeypatch.setenv("NOTIFY_SOCKET", "@anything")
    assert any(isinstance(o, SystemdObserver) for o in extra_observers(fast_settings()))


async def test_worker_life_as_systemd_sees_it(
    listener: NotifyListener, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real worker sends READY=1, WATCHDOG=1 (failed pings too), job status, STOPPING=1, in order."""
    monkeypatch.setenv("NOTIFY_SOCKET", listener.address)
    monkeypatch.setenv("WATCHDOG_USEC", "5000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    engine = FakeEngine()
    async with running_worker(fast_settings(), engine):
        await wait_until(lambda: "READY=1" in listener.lines(), what="READY=1")
        job_id = engine.add_job(SLEEP, {"seconds": 0.3})
        await wait_until(lambda: job_id in engine.results, what="the job's result")
        engine.ping_status = 503
        before = listener.lines().count("WATCHDOG=1")
        await wait_until(lambda: listener.lines().count("WATCHDOG=1") >= before + 2, what="failed ticks")
    lines = listener.lines()
    running = lines.index(f"STATUS=running job {job_id} ({SLEEP})")
    assert lines.index("READY=1") < running < lines.index("STATUS=idle", running)
    stopping = lines.index("STOPPING=1")
    assert lines[stopping + 1] == "STATUS=draining: no job"
    assert stopping > running
    assert lines[-1] == "STATUS=stopped"
