"""The echo block: a pure, global block."""

from __future__ import annotations

from function_blocks.examples.echo import Echo
from neops_worker.testing import BlockRunner, run_block


def test_echo_returns_the_message_repeated() -> None:
    """The message comes back ``repeat`` times, separated by spaces."""
    run = run_block(Echo, {"message": "hi", "repeat": 3})
    assert run.success
    assert run.data == {"echoed": "hi hi hi"}
    assert run.message == "Echoed 8 characters"


def test_echo_changes_no_entity() -> None:
    """A pure block's result carries no dbUpdates."""
    run = run_block(Echo, {"message": "hi"})
    assert run.db_updates == []
    assert "dbUpdates" not in run.result["result"]


def test_echo_is_found_by_its_id(block_runner: BlockRunner) -> None:
    """The fixture runs a block named by id, as a job names it."""
    run = block_runner.run("fb.examples.neops/echo:1.0.0", {"message": "x"})
    assert run.result["status"] == "success"


def test_echo_rejects_an_invalid_repeat() -> None:
    """Parameters are validated as the worker does: the job fails and names the field."""
    run = run_block(Echo, {"message": "hi", "repeat": 0})
    assert run.outcome == "rejected"
    assert not run.success
    assert "repeat: Input should be greater than or equal to 1" in run.message
