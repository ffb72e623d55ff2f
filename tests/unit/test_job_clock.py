"""The job's clock in both runners: JOB_TIMEOUT, or else in time for the engine's stuck-job timeout,
and a failed result that says which; and a block's verdict crossing the job process's pipe."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from neops_worker.engine.wire import JobDefinition
from neops_worker.runtime import run_one_job
from neops_worker.settings import Settings

BLOCKS = Path(__file__).resolve().parents[1] / "isolation" / "blocks"
MISBEHAVE = "fb.tests.isolation/misbehave:1.0.0"
#: ENGINE_STUCK_JOB_TIMEOUT of 1.1 s leaves 0.99 s to run (a tenth is kept to deliver the result).
BUDGET_TEXT = (
    "0.99 s, in time to report it before the engine's stuck-job timeout "
    "(ENGINE_STUCK_JOB_TIMEOUT 1.1 s; set JOB_TIMEOUT to choose another limit)"
)


def _settings(isolation: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"dir_function_blocks": [str(BLOCKS)], "job_isolation": isolation}
    return Settings(_env_file=None, **(values | overrides))


def _job(**parameters: Any) -> JobDefinition:
    return JobDefinition.model_validate(
        {"functionBlockId": MISBEHAVE, "jobId": "job-clock", "parameters": parameters, "type": "execute"}
    )


@pytest.mark.parametrize(
    ("isolation", "message"),
    [
        ("process", f"Job killed after {BUDGET_TEXT}"),
        ("thread", f"Job exceeded {BUDGET_TEXT} and was abandoned"),
    ],
)
def test_without_job_timeout_a_job_stops_in_time_for_the_engine(
    isolation: str, message: str, caplog: pytest.LogCaptureFixture
) -> None:
    """JOB_TIMEOUT unset: the job stops at the stuck-job budget; result and log line say so."""
    settings = _settings(isolation, engine_stuck_job_timeout=1.1)
    with caplog.at_level(logging.ERROR, "neops_worker"):
        outcome = run_one_job(settings, _job(mode="sleep", seconds=3))
    assert (outcome.outcome, outcome.result.result.message) == ("timeout", message)
    assert outcome.result.result.retryable is None  # another attempt may well finish in time
    assert 0.9 < outcome.duration_s < 2.5
    assert any(f"exceeded {BUDGET_TEXT}" in line for line in caplog.messages)


@pytest.mark.parametrize(
    ("isolation", "message"),
    [
        ("process", "Job killed after JOB_TIMEOUT of 0.3 s"),
        ("thread", "Job exceeded JOB_TIMEOUT of 0.3 s and was abandoned"),
    ],
)
def test_job_timeout_still_reads_as_before(isolation: str, message: str) -> None:
    """With JOB_TIMEOUT set, the failed result names it, as it always did."""
    settings = _settings(isolation, job_timeout=0.3, engine_stuck_job_timeout=1.1)
    outcome = run_one_job(settings, _job(mode="sleep", seconds=2))
    assert (outcome.outcome, outcome.result.result.message) == ("timeout", message)


def test_a_permanent_failure_crosses_the_job_process_pipe() -> None:
    """A block's PermanentFailure in a job process reaches the daemon as retryable: false."""
    outcome = run_one_job(_settings("process"), _job(mode="permanent"))
    result = outcome.result.result
    assert (outcome.outcome, result.success, result.retryable) == ("failed", False, False)
    assert result.message == "the device rejects this configuration as invalid"
