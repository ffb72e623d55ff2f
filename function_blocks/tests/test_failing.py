"""The fail block: a failed result, or an exception, as asked."""

from __future__ import annotations

from function_blocks.examples.failing import Fail
from neops_worker.testing import run_block


def test_fail_returns_a_failed_result() -> None:
    """mode=result: a failed result with the reason as its message."""
    run = run_block(Fail, {"mode": "result", "reason": "no route to host"})
    assert run.outcome == "failed"
    assert run.result["status"] == "failed"
    assert run.result["result"] == {"success": False, "message": "no route to host"}


def test_fail_raises_and_the_error_becomes_the_message() -> None:
    """mode=raise: the exception becomes a failed result reading ``ErrorType: text``."""
    run = run_block(Fail, {"mode": "raise", "reason": "10.0.0.1 timed out"})
    assert run.outcome == "error"
    assert not run.success
    assert run.message == "DeviceUnreachableError: 10.0.0.1 timed out"
