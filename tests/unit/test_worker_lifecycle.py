"""The Worker's phases and drain order, its parts wired together, against the in-process fake engine."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from neops_worker.errors import (
    ConfigurationError,
    DiscoveryError,
    EngineRejected,
    EngineUnavailable,
    IncompatibleEngineError,
    LicenceRefusedError,
    ShutdownTimeoutError,
)
from neops_worker.runtime import make_client
from neops_worker.worker.events import Observers, WorkerState
from neops_worker.worker.lifecycle import SAME_REQUEST_S, Worker
from tests.faults.faultkit import free_port
from tests.ops.fake_engine import FakeEngine
from tests.ops.harness import (
    FakeRunner,
    RecordingObserver,
    RecordingTransport,
    block_body,
    fast_settings,
    wait_until,
    wired,
)

NOOP = "fb.tests.unit/noop:1.0.0"
NGINX_500 = (
    "<html>\n<head><title>500 Internal Server Error</title></head>\n<body>\n"
    + "<!-- padding -->\n" * 200
    + "<center><h1>500 Internal Server Error</h1></center>\n</body></html>"
)
REGISTER = "/workers/register"
POLL = "/blackboard/job"
RESULT = "/blackboard/job/result"
BLOCKS = "/function-blocks/register"
COMPATIBILITY = "/version/compatibility"


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
    """A second request after the window: the job is cancelled, the worker unregisters, the error says why."""
    async with serving() as run:
        run.runner.hold = asyncio.Event()
        await wait_until(lambda: run.worker.state is WorkerState.IDLE, what="idle")
        worker_id, job_id = run.worker.worker_id, run.engine.add_job(NOOP, {})
        await run.running(job_id)
        run.worker.request_stop("SIGTERM")
        await asyncio.sleep(SAME_REQUEST_S + 0.05)
        run.worker.request_stop("SIGINT")
        with pytest.raises(ShutdownTimeoutError) as caught:
            await run.ended()
        assert str(caught.value) == f"Shutdown cut short by a second SIGINT: abandoned job {job_id}"
        assert f"cancelled {job_id}" in run.events
        assert run.events[-1] == f"/workers/{worker_id}/unregister"
        assert (
            f"Received SIGINT again: a second stop request; stopping now, abandoning job {job_id}"
        ) in caplog.messages
        assert f"Drain cut short by a second SIGINT; abandoning job {job_id}" in caplog.messages
        assert run.worker.current_job == job_id


@pytest.mark.parametrize("again", ["SIGTERM", "SIGINT"])
async def test_a_stop_signal_again_within_the_window_is_the_same_request(
    again: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A signal again within SAME_REQUEST_S (forwarded by uv and sent to the group): the job finishes."""
    async with serving() as run:
        run.runner.hold = asyncio.Event()
        job_id = run.engine.add_job(NOOP, {})
        await run.running(job_id)
        run.worker.request_stop("SIGTERM")
        run.worker.request_stop(again)
        run.worker.request_stop(again)
        run.runner.hold.set()
        await run.ended()
        assert run.engine.results[job_id]["status"] == "success"
        assert f"cancelled {job_id}" not in run.events
        said = "SIGTERM again" if again == "SIGTERM" else "SIGINT after SIGTERM"
        assert caplog.messages.count(f"{said} within 1 s: the same stop request, still draining") == 2
        assert not [m for m in caplog.messages if "abandoning" in m]


async def test_the_shutdown_timeout_abandons_the_job(caplog: pytest.LogCaptureFixture) -> None:
    """A job that outlasts SHUTDOWN_TIMEOUT is abandoned as a second signal would have it."""
    async with serving(shutdown_timeout=0.05) as run:
        run.runner.hold = asyncio.Event()
        job_id = run.engine.add_job(NOOP, {})
        await run.running(job_id)
        run.worker.request_stop()
        with pytest.raises(ShutdownTimeoutError) as caught:
            await run.ended()
        assert f"Drain cut short by SHUTDOWN_TIMEOUT (0.05 s); abandoning job {job_id}" in caplog.messages
        assert str(caught.value) == (
            f"Shutdown did not finish within SHUTDOWN_TIMEOUT (0.05 s): abandoned job {job_id}"
        )


async def test_a_stop_during_startup_takes_no_job_and_unregisters_the_registration_in_flight(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Stopped while registering: the registration's answer is awaited, no poll, that worker unregistered."""
    gate = asyncio.Event()
    async with serving(FakeEngine(registration_gate=gate)) as run:
        await wait_until(lambda: run.transport.sent(REGISTER) == 1, what="the registration")
        run.worker.request_stop()
        await asyncio.sleep(0.05)
        gate.set()
        await run.ended()
        assert "Stop requested during start-up; not taking any job" in caplog.messages
        assert POLL not in run.events
        [(worker_id, online)] = run.engine.workers.items()
        assert run.events[-1] == f"/workers/{worker_id}/unregister"
        assert not online
        assert run.worker.state is WorkerState.STOPPED


async def test_a_stop_during_startup_does_not_wait_past_the_request_timeout_for_the_registration() -> None:
    """A registration never answered holds the stop for API_REQUEST_TIMEOUT at most; nothing to unregister."""
    async with serving(FakeEngine(registration_gate=asyncio.Event()), api_request_timeout=0.2) as run:
        await wait_until(lambda: run.transport.sent(REGISTER) == 1, what="the registration")
        run.worker.request_stop()
        await run.ended()
        assert not [e for e in run.events if e.endswith("/unregister")]
        assert run.worker.state is WorkerState.STOPPED


class _HeldRegistration(httpx.BaseTransport):
    """The fake engine over a synchronous transport (so on the client's threads, as in the daemon).

    Worker registrations wait until ``release`` is set; ``arrived`` says one is waiting.
    """

    def __init__(self, engine: FakeEngine) -> None:
        self.engine = engine
        self.arrived = threading.Event()
        self.release = threading.Event()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Answer as the fake engine does, after the gate for a worker registration."""
        if request.url.path == REGISTER:
            self.arrived.set()
            self.release.wait(10)
        status, payload = self.engine.handle(
            request.method, request.url.path, request.headers.get("authorization"), request.read()
        )
        return httpx.Response(status, json=payload) if payload is not None else httpx.Response(status)


@pytest.mark.parametrize("cut_short_by", ["a discovery failure", "a stop"])
async def test_a_start_cut_short_while_the_registration_is_with_the_engine_leaves_no_worker_behind(
    cut_short_by: str,
) -> None:
    """The engine registers the worker after the start was cut short: its answer is kept, and unregistered."""
    engine = FakeEngine()
    transport = _HeldRegistration(engine)
    settings = fast_settings()
    client = make_client(settings, transport)
    runner = FakeRunner([])
    runner.discovering = asyncio.Event()
    runner.discovery_error = DiscoveryError(["broken.py: failed to import: RuntimeError"])
    worker = Worker(settings, client, runner, version="1.0.0")
    try:
        task = asyncio.ensure_future(worker.serve())
        await wait_until(transport.arrived.is_set, what="the registration at the engine")
        if cut_short_by == "a stop":
            worker.request_stop()
        else:
            runner.discovering.set()
        await asyncio.sleep(0.05)
        transport.release.set()
        with contextlib.suppress(DiscoveryError):
            await asyncio.wait_for(task, 10)
    finally:
        transport.release.set()
        await client.aclose()
    [(worker_id, online)] = engine.workers.items()
    assert not online, f"worker {worker_id} left registered"


@pytest.mark.parametrize(
    ("status", "says"),
    [
        (400, r"refused \(HTTP 400: bad schema\): its parameter or result schema is probably incompatible"),
        (413, r"refused \(HTTP 413: too large\): its registration body of (\d+) bytes is over"),
    ],
)
async def test_a_refused_block_is_named_and_the_worker_unregisters(
    status: int, says: str, caplog: pytest.LogCaptureFixture
) -> None:
    """400 (schemas) or 413 (size) on a block: an error naming the block and why; unregistered; no retry."""
    engine = FakeEngine()
    async with serving(engine) as run:
        run.transport.script(BLOCKS, (status, {"message": "bad schema" if status == 400 else "too large"}))
        with pytest.raises(EngineRejected, match=f"^registration of {NOOP}: {says}") as caught:
            await run.ended()
        [worker_id] = engine.workers
        assert run.events[-1] == f"/workers/{worker_id}/unregister"
        assert run.transport.sent(BLOCKS) == 1
        assert not run.worker.heartbeat.ticking
        assert "Function block registration failed" in caplog.messages
        if status == 413:
            [sent] = run.transport.bodies[BLOCKS]
            wire = json.dumps(sent, ensure_ascii=False, separators=(",", ":")).encode()
            assert f" {len(wire)} bytes " in str(caught.value)


async def test_an_incompatible_engine_is_not_served() -> None:
    """The version check's refusal ends the start in one line naming both versions and what to set."""
    async with serving(FakeEngine(compatible=False, version="0.42.1")) as run:
        with pytest.raises(IncompatibleEngineError) as caught:
            await run.ended()
        assert str(caught.value) == (
            "The engine (version 0.42.1) is incompatible with neops_workflow_engine_client 0.43.0-beta.8, "
            "the library and version this worker checked; not starting. If the engine does serve this "
            "worker, set VERSION_CHECK_LIBRARY and VERSION_CHECK_VERSION to a library and version it accepts"
        )
        assert REGISTER not in run.events


async def test_the_version_check_sends_the_settings_and_the_start_says_what_the_engine_is_sent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """VERSION_CHECK_* go into the check; the start line names the engine's version, URL and gated fields."""
    async with serving(version_check_library="neops_worker_sdk", version_check_version="1.0.0") as run:
        await wait_until(lambda: run.worker.state is WorkerState.IDLE, what="idle")
        assert run.transport.bodies[COMPATIBILITY] == [{"version": "1.0.0", "library": "neops_worker_sdk"}]
        assert (
            "Engine version 0.43.0-beta.8 at http://engine.test: blocks registered with 'reversible' "
            "(REGISTER_REVERSIBLE=auto), failed results with 'retryable'"
        ) in caplog.messages
        assert "/version" not in run.events
        assert run.transport.assert_bodies_valid() >= 3


async def test_without_a_version_check_the_version_comes_from_get_version(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An unanswered check: assumed compatible, and ``GET /version`` says which engine it is."""
    async with serving(FakeEngine(version="0.42.1")) as run:
        run.transport.script(COMPATIBILITY, (500, NGINX_500))
        await wait_until(lambda: run.worker.state is WorkerState.IDLE, what="idle")
        assert run.events[:2] == [COMPATIBILITY, "/version"]
        assert (
            "Version check not answered (version check: HTTP 500: 500 Internal Server Error); "
            "assuming the engine is compatible"
        ) in caplog.messages
        assert (
            "Engine version 0.42.1 at http://engine.test: blocks registered without 'reversible' "
            "(REGISTER_REVERSIBLE=auto), failed results without 'retryable'"
        ) in caplog.messages
        assert not [message for message in caplog.messages if "<" in message]


async def test_an_engine_of_unknown_version_is_sent_neither_gated_field(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Neither the check nor ``GET /version`` answered: no ``reversible``, and the start line says so."""
    async with serving() as run:
        run.runner.bodies = [block_body("undoable", reversible=True)]
        run.transport.script(COMPATIBILITY, (503, {"message": "starting"}))
        run.transport.script("/version", (404, {"message": "Cannot GET /version"}))
        await wait_until(lambda: run.worker.state is WorkerState.IDLE, what="idle")
        assert (
            "Engine version not known: GET /version not answered either "
            "(version: HTTP 404: Cannot GET /version)" in caplog.messages
        )
        assert any(
            m.startswith("Engine version unknown at http://engine.test: blocks registered without")
            for m in caplog.messages
        )
        [body] = run.transport.bodies[BLOCKS]
        assert "reversible" not in body


@pytest.mark.parametrize(
    ("version", "mode", "sent"),
    [
        ("0.43.0-beta.8", "auto", True),
        ("0.43.0-beta.2", "auto", True),
        ("0.42.1", "auto", False),
        ("a-dev-build", "auto", False),
        ("0.42.1", "always", True),
        ("a-dev-build", "always", True),
        ("0.43.0-beta.8", "never", False),
    ],
)
async def test_each_block_is_registered_with_its_reversible_flag_as_the_engine_and_setting_allow(
    version: str, mode: str, sent: bool
) -> None:
    """auto: to engines from 0.43.0-beta.2 on; always: whatever the version; never: not at all."""
    async with serving(FakeEngine(version=version), register_reversible=mode) as run:
        run.runner.bodies = [block_body("undoable", reversible=True), block_body("final", reversible=False)]
        await wait_until(lambda: run.worker.state is WorkerState.IDLE, what="idle")
        flags = {body["name"]: body.get("reversible") for body in run.transport.bodies[BLOCKS]}
        assert flags == ({"undoable": True, "final": False} if sent else {"undoable": None, "final": None})
        assert run.transport.assert_bodies_valid() >= 4


async def test_a_deprecated_contract_is_warned_once(caplog: pytest.LogCaptureFixture) -> None:
    """``deprecated: true`` is a warning at start, not repeated when the worker registers again."""
    async with serving(FakeEngine(deprecated=True)) as run:
        await wait_until(lambda: run.worker.state is WorkerState.IDLE, what="idle")
        old = run.worker.worker_id
        assert old is not None
        run.engine.workers[old] = False
        await wait_until(lambda: run.worker.worker_id not in (None, old), what="a new id")
        await wait_until(run.worker.membership.registered.is_set, what="registered again")
        warned = [m for m in caplog.messages if "is deprecated" in m]
        assert warned == [
            "The engine (version 0.43.0-beta.8) says neops_workflow_engine_client 0.43.0-beta.8 is "
            "deprecated; serving it anyway"
        ]


async def test_a_licence_refusal_of_the_worker_is_said_first_and_not_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A licence 403 on worker registration: one clear first error line, one attempt, no unregister."""
    async with serving(FakeEngine(worker_limit=0)) as run:
        with pytest.raises(LicenceRefusedError) as caught:
            await run.ended()
        first = _errors(caplog)[0]
        assert first == (
            "License limit exceeded: Workers (0 of 0), edition developer-preview; refused: the worker; "
            "the engine says: The licence allows 0 Workers; "
            "hint: Remove Workers or use a licence with a higher cap"
        )
        assert str(caught.value) == first
        assert caught.value.exit_code == 3
        assert run.transport.sent(REGISTER) == 1
        assert not [e for e in run.events if e.endswith("/unregister")]


async def test_a_licence_refusal_of_blocks_names_every_refused_block_then_unregisters(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Two of three blocks over the quota: both named in the first error line, before the unregistration."""
    async with serving(FakeEngine(block_limit=1)) as run:
        run.runner.bodies = [block_body(name) for name in ("alpha", "beta", "gamma")]
        with pytest.raises(LicenceRefusedError):
            await run.ended()
        [accepted] = run.engine.block_ids
        refused = sorted({f"fb.tests.unit/{n}:1.0.0" for n in ("alpha", "beta", "gamma")} - {accepted})
        first = _errors(caplog)[0]
        assert first.startswith(
            "License limit exceeded: function blocks (1 of 1), edition developer-preview; "
        )
        assert f"; refused: {', '.join(refused)}; the engine says: " in first
        worker_id = next(iter(run.engine.workers))
        assert caplog.messages.index(first) < caplog.messages.index(f"Worker {worker_id} unregistered")
        assert run.events[-1] == f"/workers/{worker_id}/unregister"
        assert run.transport.sent(BLOCKS) == 3


async def test_a_licence_refusal_while_registering_again_stops_the_worker_after_the_drain(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Expired, then refused by the licence when registering again: the worker stops, raising the refusal."""
    async with serving() as run:
        await wait_until(lambda: run.worker.state is WorkerState.IDLE, what="idle")
        old = run.worker.worker_id
        assert old is not None
        run.engine.worker_limit = 0
        run.engine.workers[old] = False
        with pytest.raises(LicenceRefusedError, match=r"^License limit exceeded: Workers \(0 of 0\)"):
            await run.ended()
        assert "Shutting down: the worker cannot serve any more; finishing no job first" in caplog.messages
        assert run.worker.state is WorkerState.STOPPED


async def test_an_unregistration_answered_success_false_is_said_and_the_stop_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``success: false`` on the unregistration is a warning naming the worker; the worker stops anyway."""
    async with serving(FakeEngine(ping_success=False)) as run:
        await wait_until(lambda: run.worker.state is WorkerState.IDLE, what="idle")
        worker_id = run.worker.worker_id
        run.worker.request_stop()
        await run.ended()
        assert (
            f"The engine answered the unregistration of worker {worker_id} with success: false; "
            "stopping anyway"
        ) in caplog.messages
        assert run.worker.state is WorkerState.STOPPED


async def test_an_html_error_page_reaches_the_log_as_its_title_only(caplog: pytest.LogCaptureFixture) -> None:
    """A 500 page on worker registration: the retry warning carries the page's title, no markup."""
    async with serving() as run:
        run.transport.script(REGISTER, (500, NGINX_500))
        await wait_until(lambda: run.worker.state is WorkerState.IDLE, what="idle")
        [warning] = [m for m in caplog.messages if m.startswith("Worker registration failed (")]
        assert warning.startswith(
            "Worker registration failed (worker registration: HTTP 500: 500 Internal Server Error); "
            "retrying in "
        )
        assert not [message for message in caplog.messages if "<" in message or "padding" in message]


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The ERROR lines logged, in order."""
    return [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]


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
        run.runner.discovering = found_rest = asyncio.Event()
        run.runner.discovery_error = DiscoveryError(["gen_199.py: failed to import: SyntaxError"])
        await wait_until(lambda: run.transport.sent(BLOCKS) == 1, what="the first block's registration")
        found_rest.set()
        with pytest.raises(DiscoveryError, match=r"gen_199\.py"):
            await run.ended()
        [worker_id] = engine.workers
        assert run.transport.sent(BLOCKS) == 1
        assert POLL not in run.events
        assert run.events[-1] == f"/workers/{worker_id}/unregister"
        assert run.worker.state is WorkerState.STOPPED


async def test_a_block_directory_that_does_not_exist_is_refused_before_any_request(tmp_path: Path) -> None:
    """DIR_FUNCTION_BLOCKS naming a missing directory: a ConfigurationError naming it; no request sent."""
    missing = tmp_path / "nowhere"
    async with serving(dir_function_blocks=[str(missing)]) as run:
        with pytest.raises(ConfigurationError) as caught:
            await run.ended()
        assert str(caught.value) == f"DIR_FUNCTION_BLOCKS: {missing} does not exist"
        assert caught.value.exit_code == 2
        assert [e for e in run.events if e.startswith("/")] == []
        assert run.worker.state is WorkerState.STOPPED


async def test_a_registration_that_cannot_reach_the_engine_ends_naming_its_url() -> None:
    """Retries that never reach the engine end in one error naming the URL, the failure, the setting."""
    url = f"http://127.0.0.1:{free_port()}"
    settings = fast_settings(url_blackboard=url, startup_retry_timeout=0.3)
    client = make_client(settings)
    try:
        with pytest.raises(EngineUnavailable) as caught:
            await Worker(settings, client, FakeRunner([]), version="1.0.0").serve()
    finally:
        await client.aclose()
    assert str(caught.value) == (
        f"worker registration: cannot reach the engine at {url} (connection refused) for 0.3 s "
        "(STARTUP_RETRY_TIMEOUT); is URL_BLACKBOARD right and the engine running?"
    )


async def test_a_block_registration_answered_503_to_the_end_says_the_engine_still_answers_so() -> None:
    """An engine answering 503 until STARTUP_RETRY_TIMEOUT: the error names it, the answer, the setting."""
    async with serving(startup_retry_timeout=0.3) as run:
        run.transport.script(BLOCKS, *[(503, {"message": "starting"})] * 50)
        with pytest.raises(EngineUnavailable) as caught:
            await run.ended()
        assert str(caught.value) == (
            f"registration of {NOOP}: the engine at http://engine.test still answers HTTP 503: starting "
            "after 0.3 s (STARTUP_RETRY_TIMEOUT); is it starting up or overloaded?"
        )
        assert run.events[-1] == f"/workers/{next(iter(run.engine.workers))}/unregister"


async def test_blocks_already_known_to_the_engine_are_explained_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A 409 at the first start: the engine keeps the schemas it has, a changed block needs a new version."""
    caplog.set_level(logging.INFO, logger="neops_worker")
    async with serving(FakeEngine(known_before=frozenset({NOOP}))) as run:
        await run.worker.membership.registered.wait()
        said = [m for m in caplog.messages if "registered before under the same version" in m]
        assert said == [
            "1 block(s) were registered before under the same version (an earlier start, another worker): "
            "the engine keeps the schemas it has, or refuses a changed one; give a block whose parameters or "
            "result changed a new version"
        ]
