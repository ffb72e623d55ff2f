"""``run_parallel``: await several operations at once, results in the order given."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any


async def run_parallel(*awaitables: Awaitable[Any]) -> list[Any]:
    """Run ``awaitables`` concurrently; their results in order. The first exception is raised."""
    return list(await asyncio.gather(*awaitables))


__all__ = ["run_parallel"]
