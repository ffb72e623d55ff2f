"""The engine-answered signal: a waiter wakes on the first answer after its mark, not on older ones."""

from __future__ import annotations

import asyncio
import threading
import time

from neops_worker.engine.answers import AnswerSignal


async def test_a_waiter_wakes_on_the_next_answer() -> None:
    """An answer noted while a waiter waits ends its wait at once, with True."""
    signal = AnswerSignal()
    asyncio.get_running_loop().call_later(0.05, signal.note)
    started = time.monotonic()
    assert await signal.wait_past(signal.count, 30) is True
    assert time.monotonic() - started < 5


async def test_without_an_answer_the_wait_times_out() -> None:
    """No answer within the timeout: the wait ends after it, with False, and leaves no waiter behind."""
    signal = AnswerSignal()
    started = time.monotonic()
    assert await signal.wait_past(signal.count, 0.1) is False
    assert time.monotonic() - started >= 0.09
    assert not signal._waiters


async def test_an_answer_after_the_mark_but_before_the_wait_returns_at_once() -> None:
    """An answer between taking the mark and starting to wait is not missed."""
    signal = AnswerSignal()
    mark = signal.count
    signal.note()
    assert await signal.wait_past(mark, 30) is True


async def test_an_answer_noted_from_another_thread_wakes_the_waiter() -> None:
    """``note`` is safe from a thread other than the waiter's event loop."""
    signal = AnswerSignal()
    timer = threading.Timer(0.05, signal.note)
    timer.start()
    try:
        assert await signal.wait_past(signal.count, 30) is True
    finally:
        timer.join()


async def test_every_waiter_wakes() -> None:
    """One answer wakes all waiters at once (every retry that waits for the engine)."""
    signal = AnswerSignal()
    mark = signal.count
    waits = [asyncio.ensure_future(signal.wait_past(mark, 30)) for _ in range(3)]
    await asyncio.sleep(0)
    signal.note()
    assert await asyncio.wait_for(asyncio.gather(*waits), 5) == [True, True, True]
