"""The runtime's composition seam (``compose``, ``Composition.started``) and its capture of stop signals."""

from __future__ import annotations

import asyncio
import signal
from types import FrameType, TracebackType

import httpx
import pytest

from neops_worker.engine.wire import JobPoll, Versionable
from neops_worker.errors import ConfigurationError, LicenceRefusedError
from neops_worker.runtime import Composition, capture_signals, compose, final_line, make_client
from neops_worker.worker.jobprocess.supervisor import ProcessRunner
from neops_worker.worker.observers.health import HealthServer
from neops_worker.worker.observers.metrics import SlotMetrics
from neops_worker.worker.slots import Slots
from neops_worker.worker.threads import ThreadRunner
from tests.ops.fake_engine import FakeEngine
from tests.ops.harness import FakeRunner, RecordingTransport, fast_settings


class Extension:
    """A companion service that notes when it is entered and left, or fails to start."""

    def __init__(self, events: list[str], fail: bool = False) -> None:
        self.events = events
        self.fail = fail

    async def __aenter__(self) -> Extension:
        if self.fail:
            raise ConfigurationError("HEALTH_PORT: cannot listen")
        self.events.append("extension entered")
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.events.append("extension left")


def composition_of_fakes(events: list[str], extension: Extension) -> Composition:
    """A composition whose runner, extension and transport note what happens to them."""
    settings = fast_settings()
    client = make_client(settings, RecordingTransport(FakeEngine(), events))
    slots = Slots(settings, client, lambda number, observer: FakeRunner(events), version="1.0.0")
    return Composition(slots, client, None, [extension])


@pytest.mark.parametrize(("isolation", "runner"), [("thread", ThreadRunner), ("process", ProcessRunner)])
async def test_compose_builds_the_worker_the_daemon_serves(isolation: str, runner: type[object]) -> None:
    """One client for all, the runner of ``JOB_ISOLATION``, and the health listener with its metrics."""
    composition = compose(
        fast_settings(job_isolation=isolation, health_port=0), transport=FakeEngine().transport()
    )
    worker = composition.worker
    assert worker.client is composition.client
    assert isinstance(worker.runner, runner)
    assert (composition.host is None) == (isolation == "thread")
    [metrics] = worker.observers.observers
    assert isinstance(metrics, SlotMetrics)
    [health] = composition.extensions
    assert isinstance(health, HealthServer)
    assert (health.slots, health.metrics) == (composition.slots, metrics.daemon)
    await composition.client.aclose()


async def test_slots_share_one_client_one_template_and_one_registry() -> None:
    """WORKER_SLOTS=3: three workers named <WORKER_NAME>-<i>, one client, one template, one registry."""
    settings = fast_settings(worker_slots=3, worker_name="edge", health_port=0)
    composition = compose(settings, transport=FakeEngine().transport())
    workers = composition.slots.workers
    assert [w.settings.worker_name for w in workers] == ["edge-1", "edge-2", "edge-3"]
    assert {id(w.client) for w in workers} == {id(composition.client)}
    runners = [w.runner for w in workers]
    assert all(isinstance(r, ProcessRunner) and r.host is composition.host for r in runners)
    assert len({id(r) for r in runners}) == 3
    observers = [w.observers.observers[0] for w in workers]
    assert [o.label for o in observers if isinstance(o, SlotMetrics)] == ["1", "2", "3"]
    [health] = composition.extensions
    assert isinstance(health, HealthServer)
    assert {id(o.daemon) for o in observers if isinstance(o, SlotMetrics)} == {id(health.metrics)}
    await composition.client.aclose()


async def test_the_composed_client_is_configured_by_the_settings() -> None:
    """Requests through an injected transport still carry what the settings say (the bearer token)."""
    engine = FakeEngine()
    composition = compose(fast_settings(blackboard_token="s3cr3t"), transport=engine.transport())
    await composition.client.check_compatibility()
    await composition.client.aclose()
    assert engine.authorization == ["Bearer s3cr3t"]


async def test_the_composed_client_takes_the_polls_timeout_and_register_reversible() -> None:
    """POLL_TIMEOUT (at least API_REQUEST_TIMEOUT) is for polls only; REGISTER_REVERSIBLE reaches the gate."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json=[])

    settings = fast_settings(poll_timeout=90, api_request_timeout=5, register_reversible="always")
    client = make_client(settings, httpx.MockTransport(answer))
    identity = Versionable(package="p", name="n", major_version=1, minor_version=0, patch_version=0)
    await client.poll(JobPoll(function_block_ids=[identity], limit=1, worker_id="w"))
    await client.ping("w")
    await client.aclose()
    assert [request.extensions["timeout"]["read"] for request in seen] == [90, 5]
    assert (client.reversible, client.sends_reversible) == ("always", True)


async def test_started_enters_the_extensions_then_the_runner_and_leaves_in_reverse() -> None:
    """No job process outlives the health listener; the client closes after everything else."""
    events: list[str] = []
    composition = composition_of_fakes(events, Extension(events))
    async with composition.started() as worker:
        assert worker is composition.slots
        assert events == ["extension entered", "runner entered"]
    assert events[2:] == ["runner left", "extension left", "client closed"]


async def test_an_extension_that_cannot_start_closes_the_client_and_starts_no_runner() -> None:
    """A busy health port fails the start before any job process, and leaves nothing open."""
    events: list[str] = []
    composition = composition_of_fakes(events, Extension(events, fail=True))
    with pytest.raises(ConfigurationError):
        async with composition.started():
            pass
    assert events == ["client closed"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_a_stop_signal_asks_the_worker_and_the_previous_handler_comes_back(sig: signal.Signals) -> None:
    """Inside, the signal only calls back with its name (on the loop); after, the old handler is back."""
    before: list[int] = []
    received = asyncio.Event()
    names: list[str] = []

    def previous(signum: int, frame: FrameType | None) -> None:
        before.append(signum)

    def on_signal(name: str) -> None:
        names.append(name)
        received.set()

    original = signal.signal(sig, previous)
    try:
        async with capture_signals(on_signal):
            signal.raise_signal(sig)
            await asyncio.wait_for(received.wait(), 5)
        assert signal.getsignal(sig) is previous
        signal.raise_signal(sig)
    finally:
        signal.signal(sig, original)
    assert (names, before) == ([sig.name], [sig])


def test_the_last_line_of_a_licence_refusal_is_short() -> None:
    """The refusal was said in full when it happened: the last line names it and the exit code only."""
    refusal = LicenceRefusedError(
        "License limit exceeded: workers (3 of 3), edition enterprise; refused: ..."
    )
    assert final_line(refusal) == ("Stopped: the engine's licence refused this worker (exit 3; reason above)")
    assert final_line(ConfigurationError("HEALTH_PORT: cannot listen")) == "HEALTH_PORT: cannot listen"
