"""Load and soak as tests (slow: excluded from CI; ``uv run pytest -m slow tests/faults``).

The figures themselves come from ``bench/run_all.py``; these assert only correctness and memory.
"""

from __future__ import annotations

import pytest

from bench import load


@pytest.mark.slow
def test_eight_workers_drain_20000_jobs_exactly_once() -> None:
    """8 worker processes drain 20,000 jobs: each claimed once, one success result, no duplicate push."""
    run = load.fleet_drain(8, 20000)
    assert run.exactly_once, run
    assert len(run.per_worker) == 8


@pytest.mark.slow
def test_one_worker_runs_50000_jobs_without_growing() -> None:
    """One worker runs 50,000 jobs, each exactly once; its RSS grows less than 10% after 5,000."""
    run = load.soak(50000, 5000)
    assert run.exactly_once, run
    assert run.exit_code == 0
    assert run.growth < 0.10, run
