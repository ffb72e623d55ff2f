"""The sleep block: a synchronous block that blocks its thread."""

from __future__ import annotations

from function_blocks.examples.slow import Sleep
from neops_worker.testing import run_block


def test_sleep_sleeps_and_says_how_long() -> None:
    """A short sleep succeeds and reports at least the time asked for."""
    run = run_block(Sleep, {"seconds": 0.05})
    assert run.success
    assert run.data is not None
    assert run.data["slept_seconds"] >= 0.05
    assert run.duration_s >= 0.05


def test_sleep_longer_than_the_timeout_is_killed() -> None:
    """JOB_TIMEOUT runs the block in a job process, as the worker does: killed, a failed result."""
    run = run_block(Sleep, {"seconds": 5}, timeout=0.05)
    assert run.outcome == "timeout"
    assert run.message == "Job killed after JOB_TIMEOUT of 0.05 s"
    assert run.duration_s < 4


def test_sleep_in_a_thread_is_abandoned_at_the_timeout() -> None:
    """In the test process (isolation="thread") a sync block cannot be stopped: its thread is abandoned."""
    run = run_block(Sleep, {"seconds": 0.3}, timeout=0.05, isolation="thread")
    assert run.outcome == "timeout"
    assert run.message == "Job exceeded JOB_TIMEOUT of 0.05 s and was abandoned"
