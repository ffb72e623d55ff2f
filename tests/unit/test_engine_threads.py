"""The engine client's threads: calls awaited from the loop, one thread per call in flight, no more."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from neops_worker.engine.threads import CallThreads


async def test_a_call_returns_its_value_from_another_thread() -> None:
    """The awaited outcome is the function's value, computed off the event loop's thread."""
    threads = CallThreads("test-value")
    try:
        name = await threads.call(lambda _: threading.current_thread().name, None)
    finally:
        threads.close()
    assert name.startswith("test-value-")


async def test_an_exception_reaches_the_awaiting_task() -> None:
    """What the function raises, the awaiting task raises."""
    threads = CallThreads("test-error")

    def fail(message: str) -> None:
        raise ValueError(message)

    try:
        with pytest.raises(ValueError, match="engine gone"):
            await threads.call(fail, "engine gone")
    finally:
        threads.close()


async def test_calls_one_after_another_share_one_thread() -> None:
    """An idle thread takes the next call: sequential calls start no second thread."""
    threads = CallThreads("test-reuse")
    try:
        idents = [await threads.call(lambda _: threading.get_ident(), None) for _ in range(5)]
    finally:
        threads.close()
    assert len(set(idents)) == 1
    assert threads.started == 1


async def test_calls_at_the_same_time_each_get_a_thread() -> None:
    """Three calls that can only finish together (a barrier) all run at once: three threads."""
    threads = CallThreads("test-concurrent")
    barrier = threading.Barrier(3, timeout=10)  # broken, and the test failed, if they ran one by one
    try:
        await asyncio.gather(*(threads.call(lambda _: barrier.wait(), None) for _ in range(3)))
    finally:
        threads.close()
    assert threads.started == 3


async def test_calls_one_after_another_keep_to_the_thread_idle_last() -> None:
    """With two idle threads, sequential calls all go to the one that went idle last."""
    threads = CallThreads("test-warm")
    barrier = threading.Barrier(2, timeout=10)
    try:
        await asyncio.gather(*(threads.call(lambda _: barrier.wait(), None) for _ in range(2)))
        idents = {await threads.call(lambda _: threading.get_ident(), None) for _ in range(5)}
    finally:
        threads.close()
    assert len(idents) == 1
    assert threads.started == 2


async def test_a_cancelled_call_is_waited_for_then_its_outcome_dropped_quietly() -> None:
    """Cancelled, the awaiting task waits for the call to end, then raises; nothing reaches the loop."""
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    threads = CallThreads("test-cancel")
    release = threading.Event()
    try:
        task = asyncio.ensure_future(threads.call(lambda _: release.wait(10), "value"))
        await asyncio.sleep(0)  # handed over
        task.cancel()
        for _ in range(3):
            await asyncio.sleep(0)
        assert not task.done()  # still waiting: the call holds on in its thread
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        threads.close()
        loop.set_exception_handler(None)
    assert reported == []


async def test_a_second_cancellation_stops_the_wait() -> None:
    """Cancelled again while it waits for the call's end, the task gives up at once."""
    threads = CallThreads("test-cancel-twice")
    release = threading.Event()
    try:
        task = asyncio.ensure_future(threads.call(lambda _: release.wait(10), None))
        await asyncio.sleep(0)
        task.cancel()
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not release.is_set()  # the call still runs; the task did not wait for it
    finally:
        release.set()
        threads.close()


async def test_closed_threads_end_and_refuse_calls() -> None:
    """After ``close`` every thread ends and a new call is refused."""
    threads = CallThreads("test-close")
    barrier = threading.Barrier(2, timeout=10)
    await asyncio.gather(*(threads.call(lambda _: barrier.wait(), None) for _ in range(2)))
    threads.close()
    assert _join("test-close-") == 2
    with pytest.raises(RuntimeError, match="closed"):
        await threads.call(lambda _: None, None)


def _join(prefix: str) -> int:
    """Wait for the threads named ``prefix...`` to end; how many there were. Fails if one lives on."""
    found = [thread for thread in threading.enumerate() if thread.name.startswith(prefix)]
    for thread in found:
        thread.join(10)
        assert not thread.is_alive()
    return len(found)
