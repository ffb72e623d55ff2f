"""Fixtures of the side-by-side suite: a local engine, and where this environment's commands are."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from neops_worker.devkit.local_engine import EngineOptions, LocalEngine

#: The blocks that use the vendor SDK's connection layer.
SDK_BLOCKS = Path(__file__).resolve().parent / "sdk_blocks"
#: The console scripts of the environment running the tests (the SDK's and ours side by side).
BIN = Path(sys.executable).parent


@pytest.fixture
def engine_url() -> Iterator[str]:
    """A local engine (in-memory, fast expiry) on a free loopback port."""
    options = EngineOptions(heartbeat_interval_s=1.0, unreachable_after=3, offline_after=6)
    with LocalEngine(":memory:", options=options) as running:
        yield str(running.url)
