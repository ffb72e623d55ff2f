"""Run a real ``Worker``, composed by ``runtime.compose`` as the daemon is, against the fake engine.

For the worker's parts on their own: a transport that records every request to the fake engine (and
answers scripted ones itself), a job runner without processes, and an observer that records its hooks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from neops_worker.engine.client import EngineClient
from neops_worker.engine.wire import JobDefinition, JobExecutionResult, JobResult, RegisterFunctionBlock
from neops_worker.runtime import compose, make_client
from neops_worker.settings import Settings
from neops_worker.worker.events import WorkerObserver, WorkerState
from neops_worker.worker.lifecycle import Worker
from neops_worker.worker.membership import Membership
from neops_worker.worker.observers.health import HealthServer
from neops_worker.worker.observers.metrics import WorkerMetrics
from neops_worker.worker.outcome import JobOutcome
from neops_worker.worker.runner import Catalog
from neops_worker.worker.slots import Slots
from tests.contract import assert_sent_body
from tests.ops.fake_engine import FakeEngine

#: The request body each path takes (paths not named here carry none).
SENT_DTOS = {
    "/version/compatibility": "VersionCompatibilityRequestDto",
    "/workers/register": "RegisterWorkerDto",
    "/function-blocks/register": "RegisterFunctionBlockDto",
    "/blackboard/job": "JobPollDto",
    "/blackboard/job/result": "JobResultDto",
    "/blackboard/job/log": "JobLogDto",
}
ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "function_blocks" / "examples"
OPS_BLOCKS = Path(__file__).resolve().parent / "blocks"
ECHO = "fb.examples.neops/echo:1.0.0"
SLEEP = "fb.examples.neops/sleep:1.0.0"
FAIL = "fb.examples.neops/fail:1.0.0"
CHATTY = "fb.tests.ops/chatty:1.0.0"


def fast_settings(**overrides: Any) -> Settings:
    """Settings with short intervals, the example blocks, and no ``.env``."""
    values: dict[str, Any] = {
        "url_blackboard": "http://engine.test",
        "dir_function_blocks": [str(EXAMPLES), str(OPS_BLOCKS)],
        "worker_name": "ops-test",
        "heartbeat_interval": 0.1,
        "poll_interval": 0.05,
        "poll_min_interval": 0.01,
        "startup_retry_timeout": 2,
        "result_push_timeout": 0.5,
        "shutdown_timeout": 10,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@dataclass
class RunningWorker:
    """A daemon serving in a task, with its extensions entered; ``worker`` is its first slot."""

    slots: Slots
    task: asyncio.Future[None]
    extensions: list[Any]

    @property
    def worker(self) -> Worker:
        """The first slot (the only one unless WORKER_SLOTS > 1)."""
        return self.slots.workers[0]

    @property
    def health(self) -> HealthServer:
        """The health listener (HEALTH_PORT must be set)."""
        return next(e for e in self.extensions if isinstance(e, HealthServer))

    @property
    def metrics(self) -> WorkerMetrics:
        """The daemon's metrics (HEALTH_PORT must be set)."""
        return self.health.metrics

    @property
    def base_url(self) -> str:
        """Where the health listener answers."""
        return f"http://127.0.0.1:{self.health.port}"


@contextlib.asynccontextmanager
async def running_worker(settings: Settings, engine: FakeEngine) -> AsyncIterator[RunningWorker]:
    """Serve a daemon composed by ``runtime.compose`` against ``engine``, in a task; stop it at the end."""
    composition = compose(settings, transport=engine.transport())
    async with composition.started() as slots:
        task = asyncio.ensure_future(slots.serve())
        try:
            yield RunningWorker(slots, task, composition.extensions)
        finally:
            if not slots.stopping:
                slots.request_stop("test end")
            await asyncio.wait_for(task, 15)


async def wait_until(condition: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    """Poll ``condition`` on the event loop until it holds; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)


class RecordingTransport(httpx.AsyncBaseTransport):
    """The fake engine's transport: notes each request's path in ``events``; scripted answers first."""

    def __init__(self, engine: FakeEngine, events: list[str]) -> None:
        self.engine = engine
        self.events = events
        #: The JSON bodies sent, by path, in order.
        self.bodies: dict[str, list[Any]] = {}
        #: While a path's event is unset, requests to that path wait for it.
        self.gates: dict[str, asyncio.Event] = {}
        self._inner = engine.transport()
        self._scripted: dict[str, list[tuple[int, Any]]] = {}

    def script(self, path: str, *answers: tuple[int, Any]) -> None:
        """Answer the next requests to ``path`` with these ``(status, JSON)`` instead of the engine.

        A ``str`` instead of JSON is answered as an HTML page.
        """
        self._scripted.setdefault(path, []).extend(answers)

    def sent(self, path: str) -> int:
        """How many requests went to ``path``."""
        return self.events.count(path)

    def assert_bodies_valid(self) -> int:
        """Every body sent so far validates against both engine generations' schemas; how many there were."""
        checked = 0
        for path, bodies in self.bodies.items():
            for body in bodies:
                if path in SENT_DTOS:
                    assert_sent_body(SENT_DTOS[path], body)
                    checked += 1
                else:
                    assert body is None, f"{path} carries no body, but was sent {body!r}"
        return checked

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Record, wait at a gate, then answer from the script or the engine."""
        path = request.url.path
        self.events.append(path)
        self.bodies.setdefault(path, []).append(json.loads(request.content) if request.content else None)
        if path in self.gates:
            await self.gates[path].wait()
        scripted = self._scripted.get(path)
        if scripted:
            status, payload = scripted.pop(0)
            if isinstance(payload, str):
                return httpx.Response(status, html=payload)
            return httpx.Response(status, json=payload)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        """Note that the client closed its transport."""
        self.events.append("client closed")


def block_body(name: str = "noop", reversible: bool | None = None) -> RegisterFunctionBlock:
    """A registration body for a block that exists only in a test (``reversible`` as discovery says)."""
    return RegisterFunctionBlock(
        package="fb.tests.unit",
        name=name,
        major_version=1,
        minor_version=0,
        patch_version=0,
        description=f"The {name} block of a test",
        fb_type="execute",
        parameter_json_schema={"type": "object"},
        result_data_json_schema={"type": "object"},
        reversible=reversible,
    )


class FakeRunner:
    """A job runner without processes: its events go to ``events``; each job succeeds, saying its id."""

    def __init__(self, events: list[str], bodies: list[RegisterFunctionBlock] | None = None) -> None:
        self.events = events
        self.bodies = bodies if bodies is not None else [block_body()]
        #: While set to an unset event, each job waits for it (a job in hand).
        self.hold: asyncio.Event | None = None
        #: While set to an unset event, ``ready`` waits for it (a job process being replaced).
        self.gate: asyncio.Event | None = None
        #: What ``is_ready`` says: True lets the loop skip ``ready`` and poll right behind a push.
        self.idle = False
        #: While set to an unset event, discovery waits for it once the first block is found.
        self.discovering: asyncio.Event | None = None
        #: Raised by ``catalog`` once every block was found (a discovery that fails late).
        self.discovery_error: Exception | None = None

    async def __aenter__(self) -> FakeRunner:
        self.events.append("runner entered")
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.events.append("runner left")

    async def catalog(self, found: Callable[[RegisterFunctionBlock], None] | None = None) -> Catalog:
        """The bodies given, each told to ``found`` as it is "found" (see ``discovering``)."""
        for index, body in enumerate(self.bodies):
            if found is not None:
                found(body)
            if index == 0 and self.discovering is not None:
                await self.discovering.wait()
        if self.discovery_error is not None:
            raise self.discovery_error
        return Catalog(self.bodies)

    async def run(self, job: JobDefinition) -> JobOutcome:
        """Succeed once ``hold`` allows; a cancellation is noted."""
        self.events.append(f"run {job.job_id}")
        try:
            if self.hold is not None:
                await self.hold.wait()
        except asyncio.CancelledError:
            self.events.append(f"cancelled {job.job_id}")
            raise
        message = f"ran {job.job_id}"
        result = JobExecutionResult(success=True, message=message)
        return JobOutcome(
            JobResult(job_execution_id=job.job_id, status="success", result=result), "success", 0.01
        )

    async def ready(self) -> None:
        """Ready once ``gate`` allows."""
        if self.gate is not None:
            await self.gate.wait()
        self.events.append("ready")

    def is_ready(self) -> bool:
        """``idle``, by default False: every poll then waits for ``ready`` (which records it)."""
        return self.idle

    def wedged(self) -> str | None:
        """Never wedged."""
        return None


class RecordingObserver(WorkerObserver):
    """Records every hook call as ``(hook, *arguments)``."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def named(self, hook: str) -> list[tuple[Any, ...]]:
        """The arguments of each call of ``hook``."""
        return [call[1:] for call in self.calls if call[0] == hook]

    def state_changed(self, state: WorkerState, detail: str) -> None:
        """Record."""
        self.calls.append(("state_changed", state, detail))

    def ready(self, worker_id: str) -> None:
        """Record."""
        self.calls.append(("ready", worker_id))

    def heartbeat(self, ok: bool) -> None:
        """Record."""
        self.calls.append(("heartbeat", ok))

    def poll_failed(self) -> None:
        """Record."""
        self.calls.append(("poll_failed",))

    def engine_reachable(self, ok: bool) -> None:
        """Record."""
        self.calls.append(("engine_reachable", ok))

    def job_started(self, job_id: str, function_block: str, job_type: str) -> None:
        """Record."""
        self.calls.append(("job_started", job_id, function_block, job_type))

    def job_finished(
        self, job_id: str, function_block: str, job_type: str, outcome: str, duration_s: float
    ) -> None:
        """Record."""
        self.calls.append(("job_finished", job_id, function_block, job_type, outcome))

    def result_push_failed(self, job_id: str) -> None:
        """Record."""
        self.calls.append(("result_push_failed", job_id))


@dataclass
class Wired:
    """An engine client on a fake engine, through a recording transport, and the settings it was made from."""

    engine: FakeEngine
    settings: Settings
    transport: RecordingTransport
    client: EngineClient
    #: Every request's path, in order (and whatever else the parts using it note there).
    events: list[str]

    def membership(self) -> Membership:
        """A worker's standing with the engine, serving one block; not registered yet."""
        membership = Membership(self.settings, self.client, "1.0.0")
        membership.catalog = Catalog([block_body()])
        return membership


@contextlib.asynccontextmanager
async def wired(engine: FakeEngine | None = None, **overrides: Any) -> AsyncIterator[Wired]:
    """``fast_settings(**overrides)`` and a client on ``engine`` (a new one by default); closed after."""
    engine = engine or FakeEngine()
    events: list[str] = []
    settings = fast_settings(**overrides)
    transport = RecordingTransport(engine, events)
    client = make_client(settings, transport)
    try:
        yield Wired(engine, settings, transport, client, events)
    finally:
        await client.aclose()


async def register(membership: Membership) -> str:
    """Register the worker and the catalog's blocks as start-up does; returns the worker id."""
    await membership.register_worker()
    await membership.register_blocks()
    membership.set_registered()
    assert membership.worker_id is not None
    return membership.worker_id
