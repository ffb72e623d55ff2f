"""Fixtures for fault tests: a local engine behind a fault layer, fault proxies, real worker processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from neops_worker.devkit.local_engine import EngineOptions
from tests.faults.faultkit import FaultLayer, FaultProxy, engine_behind

# The integration suite's worker fixture: real ``neops_worker`` subprocesses, killed at the end.
from tests.integration.conftest import start_worker

__all__ = ["start_worker"]

#: Fast liveness so that expiry and re-registration happen within a test.
FAST = EngineOptions(heartbeat_interval_s=1.0, unreachable_after=3, offline_after=6)


class FaultyEngine:
    """The local engine (in this process) with its fault layer."""

    def __init__(self, engine: Any, layer: FaultLayer) -> None:
        self.engine = engine
        self.layer = layer

    @property
    def url(self) -> str:
        """The engine's base URL."""
        return str(self.engine.url)


@pytest.fixture
def faulty() -> Iterator[FaultyEngine]:
    """A local engine (in memory) behind a fault layer with no plan yet."""
    with engine_behind(FaultLayer, FAST) as (running, layer):
        yield FaultyEngine(running, layer)


@pytest.fixture
def proxy() -> Iterator[Callable[[str], FaultProxy]]:
    """Start fault proxies in front of a URL; all are stopped at the end."""
    started: list[FaultProxy] = []

    def start(upstream: str) -> FaultProxy:
        started.append(FaultProxy(upstream).start())
        return started[-1]

    yield start
    for running in started:
        running.stop()
