"""Fixtures for integration tests: a recording local engine on a free loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from neops_worker.devkit.local_engine import EngineOptions
from tests.faults.faultkit import engine_behind
from tests.integration.support import Recorder, WorkerProcess


class EngineUnderTest:
    """The local engine with its request recorder."""

    def __init__(self, engine: Any, recorder: Recorder) -> None:
        self.engine = engine
        self.recorder = recorder

    @property
    def url(self) -> str:
        """The engine's base URL."""
        return str(self.engine.url)


@pytest.fixture
def engine() -> Iterator[EngineUnderTest]:
    """A local engine (in-memory, fast expiry) that records every request."""
    options = EngineOptions(heartbeat_interval_s=1.0, unreachable_after=3, offline_after=6)
    with engine_behind(Recorder, options) as (running, recorder):
        yield EngineUnderTest(running, recorder)


@pytest.fixture
def start_worker(tmp_path: Any) -> Iterator[Any]:
    """Start real worker processes against a URL; they are killed at the end if still running."""
    started: list[WorkerProcess] = []

    def start(url: str, *, own_group: bool = False, **settings: Any) -> WorkerProcess:
        worker = WorkerProcess(url, tmp_path, own_group=own_group, **settings)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
