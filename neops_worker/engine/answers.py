"""The "engine answered" signal: the client notes every answer, a waiting retry wakes on the next one.

A retry that failed because the engine was away sleeps out a jittered backoff of up to 30 s. If the
heartbeat (or any other call) meanwhile gets an answer, the engine is back, and the retry need not
sleep on: it waits for ``wait_past(mark, seconds)`` instead of a plain sleep, where ``mark`` is the
``count`` taken before its failed attempt. Answers that say the engine is still away (408, 429, 5xx)
are not noted, so the backoff stays in force while the engine stays away. The workers of a fleet
wake at their own heartbeat's phase, which spreads their retries over one heartbeat interval.
"""

from __future__ import annotations

import asyncio
import threading


class AnswerSignal:
    """Counts the engine's answers and wakes whoever waits for the next one."""

    def __init__(self) -> None:
        self._count = 0
        self._waiters: set[asyncio.Future[None]] = set()
        self._lock = threading.Lock()

    @property
    def count(self) -> int:
        """How many answers were noted so far: the mark to wait past."""
        return self._count

    def note(self) -> None:
        """The engine answered: wake every waiter (callable from any thread)."""
        with self._lock:
            self._count += 1
            waiters, self._waiters = self._waiters, set()
        for waiter in waiters:
            waiter.get_loop().call_soon_threadsafe(_wake, waiter)

    async def wait_past(self, mark: int, timeout: float) -> bool:
        """Wait up to ``timeout`` s for an answer after ``mark``; True as soon as there is one."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        with self._lock:
            if self._count > mark:
                return True
            self._waiters.add(waiter)
        try:
            done, _ = await asyncio.wait({waiter}, timeout=max(0.0, timeout))
        finally:
            with self._lock:
                self._waiters.discard(waiter)
            waiter.cancel()
        return bool(done)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


__all__ = ["AnswerSignal"]
