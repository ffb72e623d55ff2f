"""Typed examples: how a block says its failure is for good (no retry), and what a type checker rejects.

mypy checks this file and never runs it. Each ``type: ignore`` marks an error that must be reported:
were it not, mypy would report the ignore as unused, so the expectation cannot silently go away.
"""

from __future__ import annotations

from neops_worker import (
    FunctionBlockAcquireResult,
    FunctionBlockResult,
    FunctionBlockResultData,
    FunctionBlockRollbackResult,
    PermanentFailure,
)

verdict: FunctionBlockResult[FunctionBlockResultData] = FunctionBlockResult(
    success=False, message="the device is not compliant", retryable=False
)
refused = FunctionBlockRollbackResult(
    success=False, message="the device refused the old config", retryable=False
)
unresolvable = FunctionBlockAcquireResult(success=False, message="no such site", retryable=False)
retryable: bool | None = verdict.retryable
raised: Exception = PermanentFailure("the device rejects this configuration as invalid")

as_text: str = verdict.retryable  # type: ignore[assignment]
