"""Run a real ``Worker``, composed by ``runtime.compose`` as the daemon is, against the fake engine."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neops_worker.health import HealthServer
from neops_worker.metrics import WorkerMetrics
from neops_worker.runtime import compose
from neops_worker.settings import Settings
from neops_worker.worker.lifecycle import Worker
from tests.ops.fake_engine import FakeEngine

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
    """A worker serving in a task, with its extensions entered."""

    worker: Worker
    task: asyncio.Future[None]
    extensions: list[Any]

    @property
    def health(self) -> HealthServer:
        """The health listener (HEALTH_PORT must be set)."""
        return next(e for e in self.extensions if isinstance(e, HealthServer))

    @property
    def metrics(self) -> WorkerMetrics:
        """The metrics observer (HEALTH_PORT must be set)."""
        return next(o for o in self.worker.observers.observers if isinstance(o, WorkerMetrics))

    @property
    def base_url(self) -> str:
        """Where the health listener answers."""
        return f"http://127.0.0.1:{self.health.port}"


@contextlib.asynccontextmanager
async def running_worker(settings: Settings, engine: FakeEngine) -> AsyncIterator[RunningWorker]:
    """Serve a worker composed by ``runtime.compose`` against ``engine``, in a task; stop it at the end."""
    composition = compose(settings, transport=engine.transport())
    async with composition.started() as worker:
        task = asyncio.ensure_future(worker.serve())
        try:
            yield RunningWorker(worker, task, composition.extensions)
        finally:
            if not worker.stopping:
                worker.request_stop("test end")
            await asyncio.wait_for(task, 15)


async def wait_until(condition: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    """Poll ``condition`` on the event loop until it holds; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)
