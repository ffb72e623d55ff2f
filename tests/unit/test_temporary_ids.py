"""Temporary ids of new entities: unique within the job in hand, remembered no longer than the job."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from neops_worker.blocks.context import TEMP_ID_RANGE, WorkflowContext, new_temporary_id


@pytest.fixture
def replayable_random() -> Iterator[None]:
    """Let a test replay the random draws by seeding; the generator's state is restored afterwards."""
    state = random.getstate()
    yield
    random.setstate(state)


@pytest.mark.usefixtures("replayable_random")
def test_a_job_never_draws_the_same_id_twice() -> None:
    """The same random draw within one job gives another id the second time, in the range."""
    context = WorkflowContext.from_wire({}, "global", None)
    random.seed(7)
    first = new_temporary_id()
    random.seed(7)
    second = context.create_device(hostname="r1").id
    assert first != second
    assert all(TEMP_ID_RANGE[0] <= drawn <= TEMP_ID_RANGE[1] for drawn in (first, second))


@pytest.mark.usefixtures("replayable_random")
def test_the_next_job_starts_with_no_ids_remembered() -> None:
    """Ids are remembered by the job's context, not the process: a new job may draw an earlier one again."""
    WorkflowContext.from_wire({}, "global", None)
    random.seed(11)
    earlier = new_temporary_id()
    WorkflowContext.from_wire({}, "global", None)
    random.seed(11)
    assert new_temporary_id() == earlier
