"""``@run_in_thread``: a blocking function becomes an awaitable that runs in a thread."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


def run_in_thread(fn: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """Decorate a blocking function: each call starts it in the event loop's thread pool at once.

    The call returns an awaitable of the function's result, so several calls run in parallel
    (``await run_parallel(self.fetch(a), self.fetch(b))``). The thread sees the caller's context
    variables, so its log lines carry the job's ids.
    """

    @functools.wraps(fn)
    def threaded(*args: P.args, **kwargs: P.kwargs) -> Awaitable[R]:
        call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
        return asyncio.get_running_loop().run_in_executor(None, call)

    return threaded


__all__ = ["run_in_thread"]
