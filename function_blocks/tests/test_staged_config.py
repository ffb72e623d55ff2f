"""The stage_config block: a reversible block whose rollback works from the job alone and is safe twice."""

from __future__ import annotations

from pathlib import Path

from function_blocks.examples.staged_config import StageConfig
from neops_worker.blocks.base import implements_rollback
from neops_worker.testing import device, run_block

ROUTER = {"devices": [device(42, hostname="core-rtr-01")]}


def params(directory: Path, **more: object) -> dict[str, object]:
    """The job's parameters: two lines staged in ``directory``."""
    return {"directory": str(directory), "lines": ["banner motd demo", "ntp server 10.0.0.1"], **more}


def test_execute_stages_the_lines_in_a_file_named_after_the_device(tmp_path: Path) -> None:
    """A successful run writes the lines to device-ID.cfg and reports where."""
    run = run_block(StageConfig, params(tmp_path), ROUTER)
    assert run.success
    assert (tmp_path / "device-42.cfg").read_text() == "banner motd demo\nntp server 10.0.0.1\n"
    assert run.data == {"path": str(tmp_path / "device-42.cfg"), "lines": 2}


def test_failed_check_leaves_the_change_for_the_rollback(tmp_path: Path) -> None:
    """fail_check fails the job after staging: the file is there for the rollback to remove."""
    run = run_block(StageConfig, params(tmp_path, fail_check=True), ROUTER)
    assert run.outcome == "failed"
    assert run.message == f"Check failed after staging {tmp_path / 'device-42.cfg'} (fail_check is set)"
    assert (tmp_path / "device-42.cfg").exists()


def test_rollback_removes_the_staged_file_and_a_second_one_changes_nothing(tmp_path: Path) -> None:
    """Rollback from the job's parameters and context alone removes the file; run again, it is a no-op."""
    run_block(StageConfig, params(tmp_path, fail_check=True), ROUTER)
    first = run_block(StageConfig, params(tmp_path, fail_check=True), ROUTER, job_type="rollback")
    second = run_block(StageConfig, params(tmp_path, fail_check=True), ROUTER, job_type="rollback")
    assert (first.success, first.message) == (True, f"Removed {tmp_path / 'device-42.cfg'}")
    assert (second.success, second.message) == (
        True,
        f"Nothing staged in {tmp_path / 'device-42.cfg'}: nothing to undo",
    )
    assert not (tmp_path / "device-42.cfg").exists()


def test_rollback_leaves_lines_that_are_not_this_jobs(tmp_path: Path) -> None:
    """A file holding other lines was not staged by this job: rollback leaves it, and succeeds."""
    (tmp_path / "device-42.cfg").write_text("someone else's line\n")
    run = run_block(StageConfig, params(tmp_path), ROUTER, job_type="rollback")
    assert run.success
    assert (tmp_path / "device-42.cfg").read_text() == "someone else's line\n"


def test_execute_does_not_overwrite_other_lines(tmp_path: Path) -> None:
    """A run that finds other lines staged fails without touching them."""
    (tmp_path / "device-42.cfg").write_text("someone else's line\n")
    run = run_block(StageConfig, params(tmp_path), ROUTER)
    assert run.outcome == "failed"
    assert (tmp_path / "device-42.cfg").read_text() == "someone else's line\n"


def test_the_block_implements_rollback() -> None:
    """The block has a rollback of its own, so the worker registers it reversible (auto)."""
    assert implements_rollback(StageConfig)
    assert StageConfig.registration.reversible is None
