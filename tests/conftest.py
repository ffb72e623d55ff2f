"""Shared test configuration: async tests run on asyncio (anyio's plugin); long marks get long limits."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

#: pytest-timeout limits (seconds) for the marks of tests that are long by design; every other test has
#: pyproject's ``timeout``. Container: above the sum of its podman commands' own timeouts, which fail
#: more clearly. Slow: several times the soak's 150 s on a busy machine.
LONG_TEST_TIMEOUTS = {"container": 1800.0, "slow": 1200.0}


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: Any) -> None:
    """Every ``async def`` test runs under anyio without a marker of its own."""
    if name.startswith("test") and inspect.iscoroutinefunction(obj):
        pytest.mark.anyio(obj)


@pytest.fixture
def anyio_backend() -> str:
    """The event loop the async tests use: asyncio, as the worker does."""
    return "asyncio"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test marked ``container`` or ``slow`` gets that mark's limit unless it sets a timeout itself."""
    for item in items:
        limits = [
            LONG_TEST_TIMEOUTS[mark.name] for mark in item.iter_markers() if mark.name in LONG_TEST_TIMEOUTS
        ]
        if limits and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(max(limits)))
