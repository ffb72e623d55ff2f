"""The heartbeat on its own, against the in-process fake engine: pings, failures, expiry, registering anew."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from neops_worker.worker.heartbeat import Heartbeat
from neops_worker.worker.membership import Membership
from tests.ops.fake_engine import FakeEngine
from tests.ops.harness import (
    RecordingObserver,
    RecordingTransport,
    register,
    wait_until,
    wired,
)

REGISTER = "/workers/register"
BLOCKS = "/function-blocks/register"


@pytest.fixture(autouse=True)
def _info_lines(caplog: pytest.LogCaptureFixture) -> None:
    """The worker's INFO lines are part of what these tests read."""
    caplog.set_level(logging.INFO, "neops_worker")


@dataclass
class Beating:
    """A registered worker's heartbeat and what it talks to."""

    engine: FakeEngine
    transport: RecordingTransport
    membership: Membership
    heartbeat: Heartbeat
    observer: RecordingObserver
    stop: asyncio.Event
    events: list[str] = field(default_factory=list)

    def ping_path(self, worker_id: str | None = None) -> str:
        """Where a ping for ``worker_id`` (default: the current id) goes."""
        return f"/workers/{worker_id or self.membership.worker_id}/ping"

    def forget(self) -> str:
        """The engine expires the worker: its next ping gets 404. Returns the forgotten id."""
        worker_id = self.membership.worker_id
        assert worker_id is not None
        self.engine.workers[worker_id] = False
        return worker_id


@contextlib.asynccontextmanager
async def beating(engine: FakeEngine | None = None) -> AsyncIterator[Beating]:
    """A worker registered with a fake engine, and its (not yet started) heartbeat."""
    async with wired(engine) as wire:
        membership = wire.membership()
        observer, stop = RecordingObserver(), asyncio.Event()
        heartbeat = Heartbeat(
            wire.settings, wire.client, membership, observer=observer, stop=stop, doing=lambda: "job 7"
        )
        try:
            await register(membership)
            yield Beating(wire.engine, wire.transport, membership, heartbeat, observer, stop, wire.events)
        finally:
            await heartbeat.stop()


@pytest.mark.parametrize("success", [None, True])
async def test_an_accepted_ping_says_the_worker_and_the_engine_are_alive(
    success: bool | None, caplog: pytest.LogCaptureFixture
) -> None:
    """An empty answer (0.42.1) or ``success: true``: a good heartbeat, a reachable engine, no log line."""
    async with beating(FakeEngine(ping_success=success)) as run:
        caplog.clear()
        await run.heartbeat.beat()
        assert run.transport.sent(run.ping_path()) == 1
        assert run.observer.calls == [("heartbeat", True), ("engine_reachable", True)]
        assert caplog.messages == []


async def test_pings_answered_success_false_are_warned_once_per_streak(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Refused pings: one warning saying what it means, one line once accepted again, one per new streak."""
    async with beating(FakeEngine(ping_success=False)) as run:
        worker_id = run.membership.worker_id
        for _ in range(3):
            await run.heartbeat.beat()
        run.engine.ping_success = True
        await run.heartbeat.beat()
        run.engine.ping_success = False
        await run.heartbeat.beat()
        refused = (
            f"The engine did not accept the heartbeat of worker {worker_id} (ping answered success: false); "
            "if it keeps refusing, it may count the worker as silent (offline after 6 min, its job failed); "
            "pinging again every 0.1s"
        )
        assert [m for m in caplog.messages if "heartbeat of worker" in m] == [
            refused,
            f"The engine accepts the heartbeat of worker {worker_id} again",
            refused,
        ]
        assert run.observer.named("heartbeat") == [(False,), (False,), (False,), (True,), (False,)]
        assert set(run.observer.named("engine_reachable")) == {(True,)}


@pytest.mark.parametrize(
    ("status", "line", "reachable"),
    [
        (503, "Heartbeat failed (heartbeat: HTTP 503: down); pinging again in 0.1s", False),
        (400, "Heartbeat rejected (heartbeat: HTTP 400: down); pinging again in 0.1s", True),
    ],
)
async def test_a_failed_ping_is_logged_and_the_worker_keeps_its_id(
    status: int, line: str, reachable: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """A 503 means the engine is away, another refusal that it is there; neither is an expiry."""
    async with beating(FakeEngine(ping_status=status)) as run:
        worker_id = run.membership.worker_id
        await run.heartbeat.beat()
        assert line in caplog.messages
        assert run.observer.calls == [("heartbeat", False), ("engine_reachable", reachable)]
        assert (run.membership.worker_id, run.membership.expired) == (worker_id, False)


async def test_a_404_registers_the_worker_and_its_blocks_again(caplog: pytest.LogCaptureFixture) -> None:
    """Expired: no id and no polls at once; then a new id, the blocks again, and ready for jobs."""
    async with beating() as run:
        old = run.forget()
        await run.heartbeat.beat()
        assert "Worker expired! Backend rejected ping with 404." in caplog.messages
        assert "Registering again under a new id; job 7 continues" in caplog.messages
        assert (run.membership.worker_id, run.membership.expired) == (None, True)
        assert not run.membership.registered.is_set()
        assert run.heartbeat.reregistration is not None
        await asyncio.wait_for(run.heartbeat.reregistration, 5)
        new = run.membership.worker_id
        assert new not in (None, old)
        assert run.engine.blocks == ["noop", "noop"]
        assert run.membership.registered.is_set()
        assert not run.membership.expired
        assert run.observer.named("ready") == [(new,)]


async def test_a_404_while_stopping_registers_nothing(caplog: pytest.LogCaptureFixture) -> None:
    """A worker that is shutting down only notes the expiry (and will not unregister)."""
    async with beating() as run:
        run.forget()
        run.stop.set()
        await run.heartbeat.beat()
        assert "Not registering again: the worker is shutting down" in caplog.messages
        assert run.heartbeat.reregistration is None
        assert run.transport.sent(REGISTER) == 1
        assert run.membership.expired


async def test_a_failed_reregistration_is_tried_again(caplog: pytest.LogCaptureFixture) -> None:
    """A refused registration is logged and retried after a heartbeat interval until it works."""
    async with beating() as run:
        run.transport.script(REGISTER, (400, {"message": "not now"}))
        run.forget()
        await run.heartbeat.beat()
        assert run.heartbeat.reregistration is not None
        await asyncio.wait_for(run.heartbeat.reregistration, 5)
        assert any(m.startswith("Re-registration failed (") for m in caplog.messages)
        assert run.transport.sent(REGISTER) == 3
        assert run.membership.registered.is_set()


async def test_while_registering_again_a_beat_sends_nothing() -> None:
    """Without an id there is nothing to ping: the tick counts as a failed heartbeat."""
    async with beating() as run:
        run.membership.set_expired()
        await run.heartbeat.beat()
        assert run.observer.calls == [("heartbeat", False)]
        assert [e for e in run.events if e.endswith("/ping")] == []


async def test_a_new_id_that_expires_while_its_blocks_register_is_replaced() -> None:
    """The re-registration picks up an id lost again meanwhile instead of serving without one."""
    async with beating() as run:
        gate = run.transport.gates[BLOCKS] = asyncio.Event()
        first = run.forget()
        await run.heartbeat.beat()
        await wait_until(lambda: run.transport.sent(BLOCKS) == 2, what="the new id's block registration")
        second = run.forget()
        await run.heartbeat.beat()
        gate.set()
        assert run.heartbeat.reregistration is not None
        await asyncio.wait_for(run.heartbeat.reregistration, 5)
        assert run.membership.worker_id not in (None, first, second)
        assert run.transport.sent(REGISTER) == 3
        assert run.observer.named("ready") == [(run.membership.worker_id,)]


async def test_start_pings_at_once_and_stop_ends_the_ticks() -> None:
    """The first ping goes out on start and ticks repeat; after ``stop`` the heartbeat is not ticking."""
    async with beating() as run:
        run.heartbeat.start()
        await wait_until(lambda: run.transport.sent(run.ping_path()) >= 2, what="two pings")
        assert run.heartbeat.ticking
        await run.heartbeat.stop()
        assert not run.heartbeat.ticking


async def test_stop_ends_a_reregistration_in_progress() -> None:
    """Stopping the heartbeat also ends a re-registration, so nothing registers the worker later."""
    async with beating() as run:
        run.transport.gates[REGISTER] = asyncio.Event()
        run.forget()
        await run.heartbeat.beat()
        reregistration = run.heartbeat.reregistration
        assert reregistration is not None
        await run.heartbeat.stop()
        assert reregistration.cancelled()
        assert run.membership.worker_id is None
