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


def test_sleep_longer_than_the_timeout_fails() -> None:
    """JOB_TIMEOUT turns an overlong run into a failed result (the sync block's thread is abandoned)."""
    run = run_block(Sleep, {"seconds": 0.3}, timeout=0.05)
    assert run.outcome == "timeout"
    assert run.message == "Job exceeded JOB_TIMEOUT of 0.05 s and was abandoned"
