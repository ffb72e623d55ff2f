"""The Worker's phases and drain order, its parts wired together, against the in-process fake engine."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from neops_worker.errors import DiscoveryError, EngineRejected, IncompatibleEngineError, ShutdownTimeoutError
from neops_worker.worker.events import Observers, WorkerState
from neops_worker.worker.lifecycle import Worker
from tests.ops.fake_engine import FakeEngine
from tests.ops.harness import (
    FakeRunner,
    RecordingObserver,
    RecordingTransport,
    block_body,
    wait_until,
    wired,
)

NOOP = "fb.tests.unit/noop:1.0.0"
REGISTER = "/workers/register"
POLL = "/blackboard/job"
RESULT = "/blackboard/job/result"
BLOCKS = "/function-blocks/register"


@pytest.fixture(autouse=True)
def _info_lines(caplog: pytest.LogCaptureFixture) -> None:
    """The worker's INFO lines are part of what these tests read."""
    caplog.set_level(logging.INFO, "neops_worker")


@dataclass
class Serving:
    """A Worker on a fake runner, serving in a task, and what it talks to."""

    engine: FakeEngine
    transport: RecordingTransport
    runner: FakeRunner
    observer: RecordingObserver
    worker: Worker
    task: asyncio.Future[None]
    events: list[str]

    def states(self) -> list[tuple[WorkerState, str]]:
        """Every state change, with its detail."""
        return self.observer.named("state_changed")

    async def running(self, job_id: str) -> None:
        """Wait until ``job_id`` is in hand."""
        await wait_until(lambda: f"run {job_id}" in self.events, what=f"job {job_id} to start")

    async def stop(self) -> None:
        """Ask for a stop and wait until the drain has begun."""
        self.worker.request_stop()
        await wait_until(lambda: self.worker.state is WorkerState.DRAINING, what="the drain")

    async def ended(self) -> None:
        """Wait for ``serve`` to return (or raise)."""
        await asyncio.wait_for(asyncio.shield(self.task), 10)


@contextlib.asynccontextmanager
async def serving(engine: FakeEngine | None = None, **overrides: Any) -> AsyncIterator[Serving]:
    """Build a Worker as ``runtime.compose`` does, but on a fake runner, and serve it in a task."""
    async with wired(engine, **overrides) as wire:
        runner, observer = FakeRunner(wire.events), RecordingObserver()
        worker = Worker(wire.settings, wire.client, runner, version="1.0.0", observers=Observers([observer]))
        task = asyncio.ensure_future(worker.serve())
        try:
            yield Serving(wire.engine, wire.transport, runner, observer, worker, task, wire.events)
        finally:
            if not task.done():
                worker.request_stop("test end")
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 10)


async def test_the_drain_pushes_the_job_then_stops_the_heartbeat_then_unregisters() -> None:
    """Stop polling, finish the job (pinging meanwhile), push its result, stop pinging, unregister last."""
    async with serving() as run:
        run.runner.hold = asyncio.Event()
        await wait_until(lambda: run.worker.state is WorkerState.IDLE, what="idle")
        unregister = f"/workers/{run.worker.worker_id}/unregister"
        pushing = run.transport.gates[RESULT] = asyncio.Event()
        leaving = run.transport.gates[unregister] = asyncio.Event()
        job_id = run.engine.add_job(NOOP, {})
        await run.running(job_id)
        await run.stop()
        stopped_at = len(run.events)
        run.runner.hold.set()
        await wait_until(lambda: RESULT in run.events, what="the result push")
        assert run.worker.heartbeat.ticking
        pushing.set()
        await wait_until(lambda: unregister in run.events, what="the unregistration")
        assert not run.worker.heartbeat.ticking
        leaving.set()
        await run.ended()
        assert run.engine.results[job_id]["status"] == "success"
        assert run.events[-1] == unregister
        assert POLL not in run.events[stopped_at:]
        assert run.worker.current_job is None


async def test_a_worker_goes_through_its_states_in_order() -> None:
    """starting -> registered -> idle -> busy -> draining -> stopped, each with what it is doing."""
    async with serving() as run:
        run.runner.hold = asyncio.Event()
        await wait_until(lambda: run.worker.state is WorkerState.IDLE, what="idle")
        job_id = run.engine.add_job(NOOP, {})
        await run.running(job_id)
        await run.stop()
        run.runner.hold.set()
        await run.ended()
        assert run.states() == [
            (WorkerState.REGISTERED, f"registered as {run.worker.worker_id}"),
            (WorkerState.IDLE, "idle"),
            (WorkerState.BUSY, f"running job {job_id} ({NOOP})"),
            (WorkerState.DRAINING, f"draining: job {job_id}"),
            (WorkerState.DRAINING, "draining: no job"),
            (WorkerState.STOPPED, "stopped"),
        ]
        assert run.observer.named("ready") == [(run.worker.worker_id,)]


async def test_a_second_stop_abandons_the_job_and_still_unregisters(caplog: pytest.LogCaptureFixture) -> None:
    """The job in hand is cancelled, the worker unregisters, and ``serve`` raises naming the job."""
    async with serving() as run:
        run.runner.hold = asyncio.Event()
        await wait_until(lambda: run.worker.state is WorkerState.IDLE, what="idle")
        worker_id, job_id = run.worker.worker_id, run.engine.add_job(NOOP, {})
        await run.running(job_id)
        run.worker.request_stop("SIGTERM")
        run.worker.request_stop("SIGINT")
        with pytest.raises(ShutdownTimeoutError, match=f"abandoned job {job_id}"):
            await run.ended()
        assert f"cancelled {job_id}" in run.events
        assert run.events[-1] == f"/workers/{worker_id}/unregister"
        assert f"Received SIGINT again. Stopping now, abandoning job {job_id}" in caplog.messages
        assert f"Drain cut short by a second signal; abandoning job {job_id}" in caplog.messages
        assert run.worker.current_job == job_id


async def test_the_shutdown_timeout_abandons_the_job(caplog: pytest.LogCaptureFixture) -> None:
    """A job that outlasts SHUTDOWN_TIMEOUT is abandoned as a second signal would have it."""
    async with serving(shutdown_timeout=0.05) as run:
        run.runner.hold = asyncio.Event()
        job_id = run.engine.add_job(NOOP, {})
        await run.running(job_id)
        run.worker.request_stop()
        with pytest.raises(ShutdownTimeoutError):
            await run.ended()
        assert f"Drain cut short by SHUTDOWN_TIMEOUT (0.05 s); abandoning job {job_id}" in caplog.messages


async def test_a_stop_during_startup_takes_no_job(caplog: pytest.LogCaptureFixture) -> None:
    """Stopped while registering: no poll, nothing to unregister, stopped."""
    async with serving(FakeEngine(registration_gate=asyncio.Event())) as run:
        await wait_until(lambda: run.transport.sent(REGISTER) == 1, what="the registration")
        run.worker.request_stop()
        await run.ended()
        assert "Stop requested during start-up; not taking any job" in caplog.messages
        assert POLL not in run.events
        assert not [e for e in run.events if e.endswith("/unregister")]
        assert run.worker.state is WorkerState.STOPPED


async def test_a_refused_block_unregisters_and_fails_the_start(caplog: pytest.LogCaptureFixture) -> None:
    """Registered, but a block is refused: the worker leaves the engine's view clean and raises."""
    engine = FakeEngine()
    async with serving(engine) as run:
        run.transport.script("/function-blocks/register", (400, {"message": "bad schema"}))
        with pytest.raises(EngineRejected, match="bad schema"):
            await run.ended()
        [worker_id] = engine.workers
        assert run.events[-1] == f"/workers/{worker_id}/unregister"
        assert "Function block registration failed" in caplog.messages
        assert not run.worker.heartbeat.ticking


async def test_an_incompatible_engine_is_not_served() -> None:
    """The version check's refusal ends the start before the worker registers."""
    async with serving() as run:
        answer = {"compatible": False, "deprecated": False, "version": "9.0.0"}
        run.transport.script(
            "/version/compatibility", (201, {**answer, "checkedLibrary": "lib", "checkedVersion": "0.1"})
        )
        with pytest.raises(IncompatibleEngineError, match=r"version 9.0.0\) is incompatible with lib 0.1"):
            await run.ended()
        assert REGISTER not in run.events


async def test_after_an_expiry_the_job_goes_on_and_the_next_claim_is_for_the_new_id() -> None:
    """The engine forgets the worker mid-job: the result is pushed, and polls carry the new id."""
    async with serving() as run:
        run.runner.hold = asyncio.Event()
        job_id = run.engine.add_job(NOOP, {})
        await run.running(job_id)
        old = run.worker.worker_id
        assert old is not None
        run.engine.workers[old] = False
        await wait_until(lambda: run.worker.worker_id not in (None, old), what="a new id")
        new = run.worker.worker_id
        run.runner.hold.set()
        await wait_until(lambda: job_id in run.engine.results, what="the job's result")
        polls = run.transport.bodies[POLL]
        await wait_until(lambda: polls[-1]["workerId"] == new, what="a poll for the new id")
        assert run.observer.named("ready") == [(old,), (new,)]


async def test_each_block_is_registered_as_soon_as_it_is_found() -> None:
    """Registration keeps pace with discovery: the first block goes out while the second is not found yet."""
    async with serving() as run:
        run.runner.bodies = [block_body("first"), block_body("second")]
        run.runner.discovering = found_rest = asyncio.Event()
        await wait_until(lambda: run.transport.sent(BLOCKS) == 1, what="the first block's registration")
        assert run.worker.state is WorkerState.STARTING
        assert POLL not in run.events
        found_rest.set()
        await wait_until(lambda: run.worker.state is WorkerState.IDLE, what="idle")
        assert [body["name"] for body in run.transport.bodies[BLOCKS]] == ["first", "second"]
        assert {body["workerId"] for body in run.transport.bodies[BLOCKS]} == {run.worker.worker_id}


async def test_a_discovery_that_fails_after_registering_blocks_unregisters(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A broken module found last: its blocks were registered, so the worker unregisters, then raises."""
    engine = FakeEngine()
    async with serving(engine) as run:
        run.runner.discovery_error = DiscoveryError(["gen_199.py: failed to import: SyntaxError"])
        with pytest.raises(DiscoveryError, match=r"gen_199\.py"):
            await run.ended()
        [worker_id] = engine.workers
        assert run.transport.sent(BLOCKS) == 1
        assert POLL not in run.events
        assert run.events[-1] == f"/workers/{worker_id}/unregister"
        assert run.worker.state is WorkerState.STOPPED
