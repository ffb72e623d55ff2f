"""From reads of the listing to the backlog: counts per block and state, ages, blocks that stay at 0."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from neops_worker.backlog.aggregate import BacklogTracker
from neops_worker.backlog.listing import Listing
from neops_worker.engine.wire import ListedJob

FB_A = "fb.acme/backup:1.0.0"
FB_B = "fb.acme/show_version:2.1.0"
NOW = datetime(2026, 6, 6, 10, 0, tzinfo=UTC)


def listed(fb: str, job_id: str, age_s: float | None = None, status: str = "pending") -> ListedJob:
    """A listed job created ``age_s`` seconds before ``NOW`` (no creation time: as 0.42.1 lists it)."""
    created = None if age_s is None else NOW - timedelta(seconds=age_s)
    return ListedJob.model_validate(
        {"functionBlockId": fb, "jobId": job_id, "type": "execute", "status": status, "createdAt": created}
    )


def listing(
    pending: list[ListedJob], claimed: Sequence[ListedJob] = (), engine: datetime | None = NOW
) -> Listing:
    """A read of the listing, the engine's clock at ``engine``."""
    return Listing({"pending": pending, "claimed": list(claimed)}, engine)


class Clock:
    """The exporter's clock, moved by the test."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now.timestamp()

    def __call__(self) -> float:
        return self.now


def test_jobs_are_counted_per_block_and_state() -> None:
    """Each block gets a pending and a claimed count, from the jobs the read listed."""
    tracker = BacklogTracker(Clock())
    backlog = tracker.update(
        listing(
            [listed(FB_A, "a1", 5), listed(FB_A, "a2", 3), listed(FB_B, "b1", 1)], [listed(FB_B, "b2", 9)]
        )
    )
    assert dict(backlog.jobs) == {
        (FB_A, "pending"): 2,
        (FB_A, "claimed"): 0,
        (FB_B, "pending"): 1,
        (FB_B, "claimed"): 1,
    }
    assert (backlog.total("pending"), backlog.total("claimed"), backlog.blocks) == (3, 1, [FB_A, FB_B])


def test_a_block_whose_jobs_are_gone_stays_at_zero() -> None:
    """Once seen, a block keeps its series at 0: a query over it reads 0, not 'no data'."""
    tracker = BacklogTracker(Clock())
    tracker.update(listing([listed(FB_A, "a1", 5)], [listed(FB_B, "b1", 2)]))
    backlog = tracker.update(listing([]))
    assert set(backlog.jobs.values()) == {0}
    assert dict(backlog.oldest_pending_s) == {FB_A: 0.0, FB_B: 0.0}


def test_the_oldest_pending_job_per_block_gives_its_age() -> None:
    """Per block, the age of its oldest pending job; claimed jobs and other blocks' do not count."""
    tracker = BacklogTracker(Clock())
    backlog = tracker.update(
        listing(
            [listed(FB_A, "a1", 30), listed(FB_A, "a2", 90), listed(FB_B, "b1", 4)], [listed(FB_B, "b2", 500)]
        )
    )
    assert dict(backlog.oldest_pending_s) == {FB_A: 90.0, FB_B: 4.0}


def test_ages_follow_the_engine_clock_only_when_the_hosts_disagree() -> None:
    """Within 2 s the exporter's (finer) clock counts; beyond, the engine's ``Date``: skew ages no job."""
    job = listed(FB_A, "a1", 60)
    close = BacklogTracker(Clock(NOW + timedelta(seconds=1.5)))
    assert close.update(listing([job])).oldest_pending_s[FB_A] == 61.5
    skewed = BacklogTracker(Clock(NOW + timedelta(minutes=10)))
    assert skewed.update(listing([job])).oldest_pending_s[FB_A] == 60.0
    no_date = BacklogTracker(Clock(NOW + timedelta(minutes=10)))
    assert no_date.update(listing([job], engine=None)).oldest_pending_s[FB_A] == 660.0


def test_a_job_created_in_the_future_is_not_negative() -> None:
    """A creation time ahead of the clock counts as just created."""
    tracker = BacklogTracker(Clock())
    assert tracker.update(listing([listed(FB_A, "a1", -30)])).oldest_pending_s[FB_A] == 0.0


def test_without_creation_times_jobs_age_from_when_they_were_first_seen() -> None:
    """0.42.1 lists no createdAt: a job ages from the first read that saw it pending, forgotten after."""
    clock = Clock()
    tracker = BacklogTracker(clock)
    assert tracker.update(listing([listed(FB_A, "a1")])).oldest_pending_s[FB_A] == 0.0
    clock.now += 15
    backlog = tracker.update(listing([listed(FB_A, "a1"), listed(FB_A, "a2")]))
    assert backlog.oldest_pending_s[FB_A] == 15.0
    clock.now += 15
    backlog = tracker.update(listing([listed(FB_A, "a2")], [listed(FB_A, "a1", status="polled")]))
    assert backlog.oldest_pending_s[FB_A] == 15.0
    clock.now += 15
    tracker.update(listing([]))
    assert tracker.update(listing([listed(FB_A, "a1")])).oldest_pending_s[FB_A] == 0.0
