"""The few task patterns the worker's parts share: race a task against an event, cancel, pause."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import Any


async def first_of(task: asyncio.Future[Any], other: Awaitable[Any], swallow: bool = False) -> bool:
    """Wait for ``task`` or ``other``; True if ``task`` finished first (``swallow``: its error is read)."""
    waiter = asyncio.ensure_future(other)
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
    if task.done() and swallow and not task.cancelled():
        task.exception()
    return task.done()


async def cancel(task: asyncio.Future[Any]) -> None:
    """Cancel ``task`` and wait until it has ended, whatever it raises."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


async def both(first: Awaitable[None], second: Awaitable[None]) -> None:
    """Run both; the first failure cancels the other and is raised (``first``'s before ``second``'s)."""
    tasks = [asyncio.ensure_future(first), asyncio.ensure_future(second)]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for task in tasks:
            if not task.done():
                await cancel(task)
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            task.result()


async def pause(stop: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds``, or less if ``stop`` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
