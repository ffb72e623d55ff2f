"""Blocking calls on threads of their own, awaited from the event loop at the cost of one hand-over.

A synchronous HTTP request costs far less CPU than the same request through the async stack, but it
blocks. ``CallThreads`` runs it on an idle thread, starting one only when every thread is busy, so
there are as many threads as calls ever ran at once (the poll or the push, the heartbeat, the
registrations of start-up) and the event loop never waits. The hand-over is a queue put one way
and ``call_soon_threadsafe`` the other: no ``concurrent.futures`` future to chain, no executor
bookkeeping. The threads are daemons: a request hanging in one never holds up the exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import queue
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

A = TypeVar("A")
R = TypeVar("R")

#: A limit on threads, far above the calls the worker makes at once; beyond it calls queue up.
MOST_THREADS = 64
_numbers = itertools.count(1)


class _Call(Generic[A, R]):
    """One call handed to a thread: what to run and where its outcome goes."""

    __slots__ = ("argument", "function", "future", "loop")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        future: asyncio.Future[R],
        function: Callable[[A], R],
        argument: A,
    ) -> None:
        self.loop = loop
        self.future = future
        self.function = function
        self.argument = argument

    def run(self) -> tuple[Any, BaseException | None]:
        """Run the function: its value, or the exception it raised."""
        try:
            return self.function(self.argument), None
        except BaseException as exc:  # every outcome goes back to the awaiting task
            return None, exc

    def settle(self, outcome: tuple[Any, BaseException | None]) -> None:
        """Hand the outcome back to the loop of the awaiting task."""
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits any more
            self.loop.call_soon_threadsafe(_settle, self.future, *outcome)


class CallThreads:
    """A pool of daemon threads that grows to the number of calls in flight."""

    def __init__(self, name: str, most: int = MOST_THREADS) -> None:
        self.name = name
        self.most = most
        self._calls: queue.SimpleQueue[_Call[Any, Any] | None] = queue.SimpleQueue()
        #: Released by a thread each time it finishes a call; a new call takes one before starting a thread.
        self._idle = threading.Semaphore(0)
        self._threads: list[threading.Thread] = []
        self._closed = False

    @property
    def started(self) -> int:
        """How many threads were started so far."""
        return len(self._threads)

    def run(self, function: Callable[[A], R], argument: A) -> asyncio.Future[R]:
        """``function(argument)`` on an idle thread (a new one if none is idle); its outcome, to await."""
        if self._closed:
            raise RuntimeError(f"{self.name}: the threads were closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        if not self._idle.acquire(blocking=False) and len(self._threads) < self.most:
            self._start()
        self._calls.put(_Call(loop, future, function, argument))
        return future

    def close(self) -> None:
        """Let every thread end once its call in hand is done; later calls are refused."""
        self._closed = True
        for _ in self._threads:
            self._calls.put(None)

    def _start(self) -> None:
        thread = threading.Thread(target=self._serve, name=f"{self.name}-{next(_numbers)}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _serve(self) -> None:
        while (call := self._calls.get()) is not None:
            outcome = call.run()
            # Idle before the answer is back: the call the awaiting task makes next finds this thread.
            self._idle.release()
            call.settle(outcome)
            del call, outcome  # hold no answer while idle


def _settle(future: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    if future.done():
        return  # the awaiting task was cancelled
    if error is None:
        future.set_result(value)
    else:
        future.set_exception(error)


__all__ = ["MOST_THREADS", "CallThreads"]
