"""``@schedule_task``: calling an async function starts it as a task of the running loop."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


def schedule_task(fn: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, asyncio.Task[R]]:
    """Decorate an async function: each call schedules it at once and returns its ``Task``."""

    @functools.wraps(fn)
    def scheduled(*args: P.args, **kwargs: P.kwargs) -> asyncio.Task[R]:
        return asyncio.get_running_loop().create_task(fn(*args, **kwargs))

    return scheduled


__all__ = ["schedule_task"]
