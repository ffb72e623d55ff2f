"""Blocking calls on threads of their own, awaited from the event loop at the cost of one hand-over.

A synchronous HTTP request costs far less CPU than the same request through the async stack, but it
blocks. ``CallThreads`` runs it on an idle thread, starting one only when every thread is busy, so
there are as many threads as calls ever ran at once (the poll or the push, the heartbeat, the
registrations of start-up: the callers bound that number) and the event loop never waits. The
thread that went idle last takes the next call, so calls made one after another keep to one warm
thread while the others sleep. The hand-over is a queue put one way and ``call_soon_threadsafe``
the other: no ``concurrent.futures`` future to chain, no executor bookkeeping, no extra loop
iteration. The threads are daemons: a request hanging in one never holds up the exit.
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
    """One call handed to a thread: what to run, where its outcome goes, whether it has ended."""

    __slots__ = ("argument", "ended", "finished", "function", "future", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop, function: Callable[[A], R], argument: A) -> None:
        self.loop = loop
        self.future: asyncio.Future[R] = loop.create_future()
        self.function = function
        self.argument = argument
        #: Set on the loop once the thread is done with the call, answered or not.
        self.finished = False
        #: Created only by a task that was cancelled while the call ran, to wait for its end.
        self.ended: asyncio.Future[None] | None = None

    def run(self) -> tuple[Any, BaseException | None]:
        """Run the function (on the thread): its value, or the exception it raised."""
        try:
            return self.function(self.argument), None
        except BaseException as exc:  # every outcome goes back to the awaiting task
            return None, exc

    def settle(self, outcome: tuple[Any, BaseException | None]) -> None:
        """Hand the outcome back to the loop of the awaiting task (from the thread)."""
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits any more
            self.loop.call_soon_threadsafe(self._settled, *outcome)

    def _settled(self, value: Any, error: BaseException | None) -> None:
        """On the loop: the call has ended; give its outcome to whoever still waits for it."""
        self.finished = True
        if self.ended is not None and not self.ended.done():
            self.ended.set_result(None)
        if self.future.done():
            return  # the awaiting task was cancelled
        if error is None:
            self.future.set_result(value)
        else:
            self.future.set_exception(error)

    async def wait_for_end(self) -> None:
        """Wait until the thread is done with the call (a cancellation stops the wait)."""
        if not self.finished:
            self.ended = self.loop.create_future()
            await self.ended


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

    async def call(self, function: Callable[[A], R], argument: A) -> R:
        """``function(argument)`` on an idle thread (a new one if none is idle), awaited.

        A call cannot be stopped halfway: cancelled, the awaiting task first waits for the call to
        end, so that whatever comes next starts after it; a second cancellation stops that wait.
        """
        call = self._hand_over(function, argument)
        try:
            return await call.future
        except asyncio.CancelledError:
            await call.wait_for_end()
            raise

    def _hand_over(self, function: Callable[[A], R], argument: A) -> _Call[A, R]:
        if self._closed:
            raise RuntimeError(f"{self.name}: the threads were closed")
        call = _Call(asyncio.get_running_loop(), function, argument)
        with self._lock:
            # The thread that went idle last: one after another, calls keep to one warm thread.
            inbox = self._idle.pop() if self._idle else None
        (inbox or self._start()).put(call)
        return call

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


__all__ = ["CallThreads"]
