"""The job loop on its own, against the in-process fake engine: poll, run, push, one job at a time."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from neops_worker.engine.wire import JobDefinition, JobExecutionResult, JobResult
from neops_worker.worker.events import WorkerState
from neops_worker.worker.jobs import JobLoop
from neops_worker.worker.membership import Membership
from neops_worker.worker.outcome import JobOutcome
from tests.ops.fake_engine import FakeEngine
from tests.ops.harness import (
    FakeRunner,
    RecordingObserver,
    RecordingTransport,
    register,
    wait_until,
    wired,
)

NOOP = "fb.tests.unit/noop:1.0.0"
POLL = "/blackboard/job"
RESULT = "/blackboard/job/result"


@pytest.fixture(autouse=True)
def _info_lines(caplog: pytest.LogCaptureFixture) -> None:
    """The worker's INFO lines are part of what these tests read."""
    caplog.set_level(logging.INFO, "neops_worker")


@dataclass
class Looping:
    """A registered worker's job loop and what it talks to."""

    engine: FakeEngine
    transport: RecordingTransport
    runner: FakeRunner
    membership: Membership
    loop: JobLoop
    observer: RecordingObserver
    stop: asyncio.Event
    states: list[tuple[WorkerState, str]]
    events: list[str]

    def result(self, job_id: str) -> dict[str, Any]:
        """The execution result the engine holds for ``job_id``."""
        result: dict[str, Any] = self.engine.results[job_id]["result"]
        return result

    async def until_stopped(self, task: asyncio.Future[None]) -> None:
        """Ask the loop to stop and wait for its end."""
        self.stop.set()
        await asyncio.wait_for(task, 5)


@contextlib.asynccontextmanager
async def looping(
    engine: FakeEngine | None = None, runner: FakeRunner | None = None, **overrides: Any
) -> AsyncIterator[Looping]:
    """A worker registered with a fake engine (its version known), and its job loop, not yet running."""
    async with wired(engine, **overrides) as wire:
        membership = wire.membership()
        runner = runner or FakeRunner(wire.events)
        observer, stop = RecordingObserver(), asyncio.Event()
        states: list[tuple[WorkerState, str]] = []
        loop = JobLoop(
            wire.settings,
            wire.client,
            runner,
            membership,
            observer=observer,
            stop=stop,
            on_state=lambda *s: states.append(s),
        )
        await membership.check_engine()  # a version that knows ``retryable``: failed results carry it
        await register(membership)
        yield Looping(
            wire.engine, wire.transport, runner, membership, loop, observer, stop, states, wire.events
        )


async def yield_to_the_loop() -> None:
    """Let every ready task run many steps (an in-process engine answers within a few)."""
    for _ in range(50):
        await asyncio.sleep(0)


async def test_a_claimed_job_runs_and_its_result_is_pushed() -> None:
    """One poll claims one job for this worker; it runs (busy), its result is pushed, and back to idle."""
    async with looping() as run:
        job_id = run.engine.add_job(NOOP, {})
        jobs = await run.loop.poll()
        [poll] = run.transport.bodies[POLL]
        assert (poll["limit"], poll["workerId"]) == (1, run.membership.worker_id)
        await run.loop.run_batch(jobs)
        assert run.result(job_id)["message"] == f"ran {job_id}"
        assert run.states == [
            (WorkerState.BUSY, f"running job {job_id} ({NOOP})"),
            (WorkerState.IDLE, "idle"),
        ]
        assert run.observer.named("job_started") == [(job_id, NOOP, "execute")]
        assert run.observer.named("job_finished") == [(job_id, NOOP, "execute", "success")]
        assert run.loop.current_job is None


async def test_the_loop_runs_queued_jobs_in_order_one_claim_at_a_time() -> None:
    """Each poll claims one job, only after the runner said it is ready; the loop ends on a stop."""
    async with looping() as run:
        jobs = [run.engine.add_job(NOOP, {}) for _ in range(3)]
        task = asyncio.ensure_future(run.loop.run())
        await wait_until(lambda: all(j in run.engine.results for j in jobs), what="three results")
        await run.until_stopped(task)
        assert [e for e in run.events if e.startswith("run ")] == [f"run {j}" for j in jobs]
        assert {body["limit"] for body in run.transport.bodies[POLL]} == {1}
        claims = [e for e in run.events if e in (POLL, "ready")]
        assert all(before == "ready" for before, after in itertools.pairwise(claims) if after == POLL)
        assert claims[0] == "ready"


async def test_no_claim_before_the_runner_is_ready() -> None:
    """While the runner cannot take a job nothing is polled; a stop then ends the loop without a claim."""
    async with looping() as run:
        run.runner.gate = asyncio.Event()
        task = asyncio.ensure_future(run.loop.run())
        await yield_to_the_loop()
        assert run.transport.sent(POLL) == 0
        await run.until_stopped(task)
        assert run.transport.sent(POLL) == 0


async def test_no_claim_while_the_worker_is_not_registered() -> None:
    """An expired worker polls again only once it is registered again."""
    async with looping() as run:
        run.membership.set_expired()
        task = asyncio.ensure_future(run.loop.run())
        await yield_to_the_loop()
        assert run.transport.sent(POLL) == 0
        run.membership.set_registered()
        await wait_until(lambda: run.transport.sent(POLL) > 0, what="a poll")
        await run.until_stopped(task)


async def test_a_malformed_job_is_reported_failed_without_running(caplog: pytest.LogCaptureFixture) -> None:
    """A job the worker cannot read gets a failed result naming the problem; no block runs."""
    async with looping() as run:
        run.transport.script(POLL, (201, [{"jobId": "bad-1", "type": "execute"}]))
        await run.loop.run_batch(await run.loop.poll())
        assert run.engine.results["bad-1"]["status"] == "failed"
        assert run.result("bad-1")["message"].startswith("Malformed job definition: ")
        assert "functionBlockId" in run.result("bad-1")["message"]
        assert run.result("bad-1")["retryable"] is False  # every attempt would be as malformed
        assert not [e for e in run.events if e.startswith("run ")]
        assert any(m.startswith("Job bad-1 is malformed (") for m in caplog.messages)


async def test_a_job_without_an_id_cannot_be_answered(caplog: pytest.LogCaptureFixture) -> None:
    """Without a usable jobId there is nothing to push: the worker logs it and goes on."""
    async with looping() as run:
        run.transport.script(POLL, (201, [{"functionBlockId": NOOP, "type": "execute"}]))
        await run.loop.run_batch(await run.loop.poll())
        assert run.transport.sent(RESULT) == 0
        assert any(m.startswith("The engine sent a job without a usable jobId") for m in caplog.messages)


async def test_after_a_stop_the_rest_of_a_batch_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    """The job in hand finishes; the ones claimed with it get a failed result and the loop drains."""
    async with looping() as run:
        jobs = [{"jobId": job_id, "functionBlockId": NOOP, "type": "execute"} for job_id in ("a", "b")]
        run.transport.script(POLL, (201, jobs))
        run.runner.hold = asyncio.Event()
        batch = asyncio.ensure_future(run.loop.run_batch(await run.loop.poll()))
        await wait_until(lambda: "run a" in run.events, what="the first job")
        run.stop.set()
        run.runner.hold.set()
        await asyncio.wait_for(batch, 5)
        assert run.result("a")["success"]
        assert run.result("b")["message"] == f"Not run: worker {run.membership.worker_id} is shutting down"
        assert "retryable" not in run.result("b")  # another worker may run it
        assert "run b" not in run.events
        assert "Shutdown requested, skipping 1 remaining job(s)" in caplog.messages
        assert run.states[-1] == (WorkerState.DRAINING, "draining: no job")


@pytest.mark.parametrize(("status", "reachable"), [(503, False), (400, True)])
async def test_a_failed_poll_claims_nothing(
    status: int, reachable: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """A failed poll is logged and counted, and says whether the engine answered at all."""
    async with looping(FakeEngine(poll_status=status)) as run:
        assert await run.loop.poll() == []
        assert run.observer.calls == [("poll_failed",), ("engine_reachable", reachable)]
        assert any(m.startswith("Poll failed (") for m in caplog.messages)
        assert run.transport.sent(POLL) == 1


@pytest.mark.parametrize(
    ("status", "line", "lost"),
    [
        (409, "The engine already holds a result for job {} (409): it may have failed the job itself", False),
        (400, "The engine rejected the result of job {} (", True),
        (503, "Could not deliver the result of job {} before RESULT_PUSH_TIMEOUT (", True),
    ],
)
async def test_what_happens_to_a_result_the_engine_does_not_take(
    status: int, line: str, lost: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """A result already there is a warning, not a loss; a refused or undeliverable one is lost and counted."""
    async with looping(FakeEngine(result_status=status), result_push_timeout=0.05) as run:
        job_id = run.engine.add_job(NOOP, {})
        await run.loop.run_batch(await run.loop.poll())
        assert any(m.startswith(line.format(job_id)) for m in caplog.messages)
        assert run.observer.named("result_push_failed") == ([(job_id,)] if lost else [])
        assert run.states[-1] == (WorkerState.IDLE, "idle")


async def test_the_next_poll_goes_out_right_behind_the_push() -> None:
    """With the runner free, each push carries the next poll in the same trip: no ``ready`` wait between."""
    async with looping() as run:
        run.runner.idle = True
        jobs = [run.engine.add_job(NOOP, {}) for _ in range(3)]
        pushes: list[bool] = []
        combined = run.loop.client.push_result_then_poll

        async def spy(*args: Any) -> Any:
            pushes.append(True)
            return await combined(*args)

        run.loop.client.push_result_then_poll = spy  # type: ignore[method-assign,assignment]
        task = asyncio.ensure_future(run.loop.run())
        await wait_until(lambda: all(j in run.engine.results for j in jobs), what="three results")
        await wait_until(lambda: run.transport.sent(POLL) == 4, what="the empty poll after the last push")
        await run.until_stopped(task)
        requests = [e for e in run.events if e in (POLL, RESULT)]
        assert requests == [POLL, RESULT, POLL, RESULT, POLL, RESULT, POLL]
        assert len(pushes) == 3
        assert "ready" not in run.events


async def test_no_poll_behind_a_push_once_a_stop_came() -> None:
    """A stop during the push: the poll that would ride behind it is not sent, and the loop ends."""
    async with looping() as run:
        run.runner.idle = True
        run.engine.add_job(NOOP, {})
        second = run.engine.add_job(NOOP, {})
        run.transport.gates[RESULT] = gate = asyncio.Event()
        task = asyncio.ensure_future(run.loop.run())
        await wait_until(lambda: run.transport.sent(RESULT) == 1, what="the first push")
        run.stop.set()
        gate.set()
        await asyncio.wait_for(task, 5)
        assert [e for e in run.events if e in (POLL, RESULT)] == [POLL, RESULT]
        assert second not in run.engine.results


async def test_a_failed_push_is_retried_without_the_poll(caplog: pytest.LogCaptureFixture) -> None:
    """The push that carried the poll failed: it is retried alone, then the loop polls as usual."""
    async with looping() as run:
        run.runner.idle = True
        job_id = run.engine.add_job(NOOP, {})
        run.transport.script(RESULT, (503, {"message": "restarting"}))
        task = asyncio.ensure_future(run.loop.run())
        await wait_until(lambda: job_id in run.engine.results, timeout=10, what="the retried push")
        await wait_until(lambda: run.transport.sent(POLL) == 2, what="the next poll")
        await run.until_stopped(task)
        assert [e for e in run.events if e in (POLL, RESULT)][:4] == [POLL, RESULT, RESULT, POLL]
        delivered = _index(caplog, f"Result of job {job_id} delivered after 2 attempts in ")
        finished = _index(caplog, f"Job {job_id} finished: success in ")
        assert delivered < finished
        assert ", result delivered after 2 attempts in " in caplog.messages[finished]
        assert caplog.records[delivered].levelno == logging.INFO


def _index(caplog: pytest.LogCaptureFixture, start: str) -> int:
    """The index of the only message that starts with ``start``."""
    [index] = [i for i, message in enumerate(caplog.messages) if message.startswith(start)]
    return index


async def test_a_job_is_said_finished_once_its_result_reached_the_engine(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The job's last line comes after the push was answered, with its outcome, time and delivery."""
    async with looping() as run:
        job_id = run.engine.add_job(NOOP, {})
        run.transport.gates[RESULT] = pushing = asyncio.Event()
        batch = asyncio.ensure_future(run.loop.run_batch(await run.loop.poll()))
        await wait_until(lambda: run.transport.sent(RESULT) == 1, what="the push")
        assert not [m for m in caplog.messages if m.startswith(f"Job {job_id} finished")]
        pushing.set()
        await asyncio.wait_for(batch, 5)
        [line] = [m for m in caplog.messages if m.startswith(f"Job {job_id} finished")]
        assert line.startswith(f"Job {job_id} finished: success in ")
        assert line.endswith(f" ms, result delivered: ran {job_id}")


# --- what the engine refuses, and answers it loses ------------------------------------------


@dataclass
class StrictEngine(FakeEngine):
    """The fake engine with the real one's refusals, and answers lost on the way back.

    A result over ``body_limit`` bytes gets 413, a second result for a job 409; a request to a path
    in ``lose`` is handled, then its answer is lost (the exception given there is raised instead).
    """

    body_limit: int = 0
    lose: dict[str, type[httpx.TransportError]] = field(default_factory=dict)

    def handle(self, method: str, path: str, authorization: str | None, body: bytes) -> tuple[int, Any]:
        """Refuse as the engine would, else answer as the fake engine does."""
        if path == RESULT and self.body_limit and len(body) > self.body_limit:
            return 413, {"statusCode": 413, "message": "request entity too large"}
        if path == RESULT and json.loads(body)["jobExecutionId"] in self.results:
            return 409, {"statusCode": 409, "message": "Job already has a result"}
        return super().handle(method, path, authorization, body)

    def transport(self) -> httpx.MockTransport:
        """The fake engine's transport, losing the answers ``lose`` says."""
        inner = super().transport()

        async def answer(request: httpx.Request) -> httpx.Response:
            response = await inner.handle_async_request(request)
            lost = self.lose.pop(request.url.path, None)
            if lost is not None:
                raise lost("the answer was lost", request=request)
            return response

        return httpx.MockTransport(answer)


class BigRunner(FakeRunner):
    """Each job succeeds with ``size`` bytes of data."""

    size = 20_000

    async def run(self, job: JobDefinition) -> JobOutcome:
        """A large success."""
        self.events.append(f"run {job.job_id}")
        result = JobExecutionResult(success=True, message="big", data={"blob": "x" * self.size})
        return JobOutcome(
            JobResult(job_execution_id=job.job_id, status="success", result=result), "success", 0
        )


def _encoded(body: Any) -> int:
    """The bytes of a JSON body as the engine client writes it."""
    return len(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode())


async def test_a_result_too_large_is_replaced_at_once_by_a_short_failed_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """413: a short failed result saying the size goes at once (retryable false), one short log line."""
    engine = StrictEngine(body_limit=10_000)
    async with looping(engine, runner=BigRunner([])) as run:
        run.runner.events = run.events
        run.runner.idle = True
        job_id = engine.add_job(NOOP, {})
        task = asyncio.ensure_future(run.loop.run())
        await wait_until(lambda: job_id in engine.results, what="the short result")
        await wait_until(lambda: run.transport.sent(POLL) == 2, what="the poll behind the short push")
        await run.until_stopped(task)
        size = _encoded(run.transport.bodies[RESULT][0])
        assert size > engine.body_limit
        assert run.result(job_id) == {
            "success": False,
            "message": f"The result of job {job_id} was too large for the engine: {size} bytes "
            "(the engine refused it with 413; its default limit is 50 MB)",
            "retryable": False,
        }
        assert [e for e in run.events if e in (POLL, RESULT)][:4] == [POLL, RESULT, RESULT, POLL]
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert errors == [
            f"The result of job {job_id} ({size} bytes) was refused as too large (413); "
            "pushing a short failed result in its place"
        ]
        assert all(len(m) < 500 for m in caplog.messages)  # never the body
        assert run.observer.named("result_push_failed") == []
        assert (
            f"Job {job_id} finished: success in 0 ms, result too large, a short failed result delivered "
            "in its place: big"
        ) in caplog.messages


async def test_a_short_result_refused_too_is_lost_not_replaced_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An engine that refuses even the short result: it is logged lost and counted, once."""
    engine = StrictEngine(body_limit=100)
    async with looping(engine, runner=BigRunner([])) as run:
        job_id = engine.add_job(NOOP, {})
        await run.loop.run_batch(await run.loop.poll())
        assert run.transport.sent(RESULT) == 2
        assert job_id not in engine.results
        assert run.observer.named("result_push_failed") == [(job_id,)]
        assert any(m.startswith(f"The engine rejected the result of job {job_id} (") for m in caplog.messages)
        assert (
            f"Job {job_id} finished: success in 0 ms, result too large, a short failed result rejected by "
            "the engine in its place: big"
        ) in caplog.messages


async def test_a_409_after_a_lost_answer_is_already_delivered(caplog: pytest.LogCaptureFixture) -> None:
    """The first push got through but its answer was lost: the 409 of the retry is 'already delivered'."""
    engine = StrictEngine(lose={RESULT: httpx.ReadTimeout})
    async with looping(engine, result_push_timeout=5) as run:
        job_id = engine.add_job(NOOP, {})
        await run.loop.run_batch(await run.loop.poll())
        assert run.transport.sent(RESULT) == 2
        assert run.result(job_id)["message"] == f"ran {job_id}"
        assert any(
            m.startswith(f"Result of job {job_id} already delivered: the engine already holds a result (409 ")
            for m in caplog.messages
        )
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING and "409" in r.getMessage()]
        assert not any("dropped" in m for m in caplog.messages)
        assert run.observer.named("result_push_failed") == []


async def test_a_409_after_an_answered_failure_is_the_engines_own_result(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A 503, then 409: our push never got through, so the engine holds a result of its own: a warning."""
    engine = StrictEngine()
    async with looping(engine, result_push_timeout=5) as run:
        job_id = engine.add_job(NOOP, {})
        jobs = await run.loop.poll()
        engine.results[job_id] = {"status": "failed", "result": {"success": False, "message": "stuck"}}
        run.transport.script(RESULT, (503, {"message": "restarting"}))
        await run.loop.run_batch(jobs)
        assert run.transport.sent(RESULT) == 2
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert (
            f"The engine already holds a result for job {job_id} (409): it may have failed the job itself "
            "(its stuck-job timeout, or this worker seen offline); this result was not taken"
        ) in warnings
        assert not any("already delivered" in m for m in caplog.messages)


@pytest.mark.parametrize(
    ("lost", "may_have_claimed"), [(httpx.ReadTimeout, True), (httpx.RemoteProtocolError, False)]
)
async def test_a_poll_that_timed_out_says_a_job_may_be_lost(
    lost: type[httpx.TransportError], may_have_claimed: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """A timed-out poll claimed the job it carried: the line says so and names POLL_TIMEOUT; others do not."""
    engine = StrictEngine(lose={POLL: lost})
    async with looping(engine, poll_timeout=45) as run:
        job_id = engine.add_job(NOOP, {})
        assert await run.loop.poll() == []
        assert (engine.queue, engine.results) == ([], {})  # claimed by the engine, never run here
        [line] = [m for m in caplog.messages if m.startswith("Poll failed (")]
        assert ("may be claimed by this worker" in line) is may_have_claimed
        assert ("raise POLL_TIMEOUT (now 45 s)" in line) is may_have_claimed
        assert line.endswith("polling again after a pause")
        assert job_id not in line
