"""Blocking calls on threads of their own, awaited from the event loop at the cost of one hand-over.

A synchronous HTTP request costs far less CPU than the same request through the async stack, but it
blocks. ``CallThreads`` runs it on an idle thread, starting one only when every thread is busy, so
there are as many threads as calls ever ran at once (the poll or the push, the heartbeat, the
registrations of start-up: the callers bound that number) and the event loop never waits. The
thread that went idle last takes the next call, so calls made one after another keep to one warm
thread while the others sleep. The hand-over is a queue put one way and ``call_soon_threadsafe``
the other: no ``concurrent.futures`` future to chain, no executor bookkeeping. The threads are
daemons: a request hanging in one never holds up the exit.
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


#: Where a thread waits for its next call (``None``: end).
_Inbox = queue.SimpleQueue[_Call[Any, Any] | None]


class CallThreads:
    """Daemon threads for blocking calls, as many as calls were ever in flight at once."""

    def __init__(self, name: str) -> None:
        self.name = name
        #: The inbox of every thread; idle ones also in ``_idle``, the last to go idle at the end.
        self._inboxes: list[_Inbox] = []
        self._idle: list[_Inbox] = []
        self._lock = threading.Lock()
        self._closed = False

    @property
    def started(self) -> int:
        """How many threads were started so far."""
        return len(self._inboxes)

    def run(self, function: Callable[[A], R], argument: A) -> asyncio.Future[R]:
        """``function(argument)`` on an idle thread (a new one if none is idle); its outcome, to await."""
        if self._closed:
            raise RuntimeError(f"{self.name}: the threads were closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        with self._lock:
            # The thread that went idle last: one after another, calls keep to one warm thread.
            inbox = self._idle.pop() if self._idle else None
        (inbox or self._start()).put(_Call(loop, future, function, argument))
        return future

    def close(self) -> None:
        """Let every thread end once its call in hand is done; later calls are refused."""
        self._closed = True
        for inbox in self._inboxes:
            inbox.put(None)

    def _start(self) -> _Inbox:
        inbox: _Inbox = queue.SimpleQueue()
        self._inboxes.append(inbox)
        name = f"{self.name}-{next(_numbers)}"
        threading.Thread(target=self._serve, args=(inbox,), name=name, daemon=True).start()
        return inbox

    def _serve(self, inbox: _Inbox) -> None:
        while (call := inbox.get()) is not None:
            outcome = call.run()
            with self._lock:
                # Idle before the answer is back: the call the awaiting task makes next finds this thread.
                self._idle.append(inbox)
            call.settle(outcome)
            del call, outcome  # hold no answer while idle


def _settle(future: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    if future.done():
        return  # the awaiting task was cancelled
    if error is None:
        future.set_result(value)
    else:
        future.set_exception(error)


__all__ = ["CallThreads"]
