"""Fixtures of the side-by-side suite: a local engine, and where this environment's commands are."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from neops_worker.devkit.local_engine import EngineOptions, LocalEngine

#: The blocks that use the vendor SDK's connection layer.
SDK_BLOCKS = Path(__file__).resolve().parent / "sdk_blocks"
#: The console scripts of the environment running the tests (the SDK's and ours side by side).
BIN = Path(sys.executable).parent


#: Third-party warnings raised at import inside the SDK's dependencies: ``filterwarnings = ["error"]``
#: stays in force for everything else, this project's own code first. Each line names its cause.
THIRD_PARTY_WARNINGS = (
    # asyncssh (a dependency of the SDK's connection layer) names cryptography's DSA classes at
    # import; cryptography 51 deprecates DSA, so importing the SDK warns.
    "ignore:DSA is deprecated:cryptography.utils.CryptographyDeprecationWarning:asyncssh",
)


def pytest_configure(config: pytest.Config) -> None:
    """Filter the SDK's dependencies' import warnings, where those dependencies are installed."""
    if importlib.util.find_spec("cryptography") is None:
        return  # not the side-by-side environment: nothing to filter (and no category to name)
    for line in THIRD_PARTY_WARNINGS:
        config.addinivalue_line("filterwarnings", line)


@pytest.fixture
def engine_url() -> Iterator[str]:
    """A local engine (in-memory, fast expiry, no retries of failed jobs) on a free loopback port."""
    options = EngineOptions(heartbeat_interval_s=1.0, unreachable_after=3, offline_after=6, max_retries=0)
    with LocalEngine(":memory:", options=options) as running:
        yield str(running.url)
