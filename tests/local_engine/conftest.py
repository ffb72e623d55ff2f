"""Fixtures: a local engine on a free loopback port and a contract-checking client for it."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from neops_worker.devkit.local_engine import EngineOptions, LocalEngine
from tests.local_engine.helpers import Api, FakeClock

#: Heartbeat thresholds of the fake-clock engine: unreachable after 20 s, expired after 50 s of silence.
HEARTBEAT_S = 10.0
UNREACHABLE_AFTER = 2.0
OFFLINE_AFTER = 5.0


@pytest.fixture
def clock() -> FakeClock:
    """The engine's clock, moved by the test."""
    return FakeClock()


@pytest.fixture(scope="session")
def stoppers() -> Iterator[list[threading.Thread]]:
    """Threads stopping engines in the background, joined at the end of the session."""
    threads: list[threading.Thread] = []
    yield threads
    for thread in threads:
        thread.join(10)


@pytest.fixture
def engine(clock: FakeClock, stoppers: list[threading.Thread]) -> Iterator[LocalEngine]:
    """An in-memory local engine on 127.0.0.1, port 0, running on the fake clock."""
    options = EngineOptions(
        heartbeat_interval_s=HEARTBEAT_S,
        unreachable_after=UNREACHABLE_AFTER,
        offline_after=OFFLINE_AFTER,
        sweep_interval_s=0.05,
    )
    running = LocalEngine(":memory:", options=options, clock=clock).start()
    yield running
    # uvicorn's shutdown takes ~0.2 s of fixed sleeps; the next test needs none of this engine.
    stopper = threading.Thread(target=running.stop, name="engine-stopper")
    stopper.start()
    stoppers.append(stopper)


@pytest.fixture
def api(engine: LocalEngine) -> Iterator[Api]:
    """A client for ``engine`` that checks every answer against the contract."""
    client = Api.connect(engine.url)
    yield client
    client.http.close()
