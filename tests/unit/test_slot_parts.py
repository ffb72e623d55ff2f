"""Slots and burst mode, part by part: the claim budget, the idle watch, a slot's start backoff."""

from __future__ import annotations

import asyncio
import logging
import socket
import time

import pytest

from neops_worker.runtime import make_client
from neops_worker.worker.burst import ClaimBudget, IdleWatch
from neops_worker.worker.events import WorkerObserver
from neops_worker.worker.jobprocess import supervisor
from neops_worker.worker.jobprocess.supervisor import ProcessRunner, TemplateGone
from neops_worker.worker.slots import Slots, slot_name
from tests.ops.harness import FakeRunner, fast_settings


def test_the_budget_never_reserves_beyond_its_limit_and_takes_back_empty_polls() -> None:
    """Three jobs: three reservations at most at once; an empty poll frees its own; the third run ends it."""
    spent: list[str] = []
    budget = ClaimBudget(3, lambda: spent.append("spent"))
    assert [budget.reserve() for _ in range(4)] == [True, True, True, False]
    budget.settle(0)  # that poll claimed nothing
    assert budget.reserve()
    budget.settle(1)
    budget.ran(2)
    assert spent == []
    budget.ran(1)
    assert spent == ["spent"]


def test_the_idle_time_counts_from_registration_and_stops_while_a_job_runs() -> None:
    """Nothing before the first slot registers; zero while any slot is busy; from the last job's end."""
    now = [100.0]
    watch = IdleWatch(5, clock=lambda: now[0])
    now[0] = 103
    assert watch.idle_for() == 0  # not registered yet
    watch.ready("w1")
    now[0] = 104
    assert watch.idle_for() == 1
    watch.job_started("j1", "p/b:1.0.0", "execute")
    watch.job_started("j2", "p/b:1.0.0", "execute")
    watch.job_finished("j1", "p/b:1.0.0", "execute", "success", 0.1)
    now[0] = 120
    assert watch.idle_for() == 0  # j2 still runs
    watch.job_finished("j2", "p/b:1.0.0", "execute", "success", 0.1)
    now[0] = 122
    assert watch.idle_for() == 2


async def test_the_watch_returns_once_every_slot_was_idle_long_enough() -> None:
    """A job that ends meanwhile starts the count again."""
    watch = IdleWatch(0.2)
    watch.ready("w1")
    watching = asyncio.ensure_future(watch.watch())
    await asyncio.sleep(0.1)
    watch.job_started("j", "p/b:1.0.0", "execute")
    await asyncio.sleep(0.3)
    assert not watching.done()  # busy
    watch.job_finished("j", "p/b:1.0.0", "execute", "success", 0.3)
    await asyncio.wait_for(watching, 1)


def test_several_slots_are_named_after_the_worker_one_keeps_its_name() -> None:
    """<WORKER_NAME>-<i> with several slots (the host's name without one); one slot: WORKER_NAME as it is."""
    assert slot_name(fast_settings(worker_name="edge"), 1) == "edge"
    assert slot_name(fast_settings(worker_name="edge", worker_slots=3), 2) == "edge-2"
    assert slot_name(fast_settings(worker_name=None, worker_slots=2), 2) == f"{socket.gethostname()}-2"


class _GoneHost:
    """A template host whose template never answers a fork."""

    def listen(self, on_exit: object) -> None:
        pass

    async def fork(self, observer: WorkerObserver) -> tuple[int, socket.socket, int]:
        raise TemplateGone("the template process is not running")


class _Counting(WorkerObserver):
    def __init__(self) -> None:
        self.failures = 0

    def job_process_start_failed(self, reason: str) -> None:
        self.failures += 1


async def test_a_slot_that_cannot_start_a_job_process_backs_off_longer_each_time(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The pause doubles up to its ceiling, every failure is logged and counted, and /livez learns of it."""
    monkeypatch.setattr(supervisor, "RESTART_PAUSE_S", 0.01)
    monkeypatch.setattr(supervisor, "RESTART_PAUSE_MAX_S", 0.04)
    monkeypatch.setattr(supervisor, "WEDGED_AFTER_S", 0.0)
    observer = _Counting()
    runner = ProcessRunner(fast_settings(), observer, host=_GoneHost())  # type: ignore[arg-type]
    with caplog.at_level(logging.ERROR, "neops_worker.worker.jobprocess"):
        for _ in range(4):
            await runner._replace()
    pauses = [record.getMessage().rsplit(" in ", 1)[1] for record in caplog.records]
    assert pauses == ["0.01 s", "0.02 s", "0.04 s", "0.04 s"]
    assert "4 failure(s) in a row" in caplog.records[-1].getMessage()
    assert observer.failures == 4
    assert (runner.wedged() or "").startswith("no job process could be started for")


async def test_a_signal_after_the_daemon_stopped_itself_is_a_first_request_not_a_second(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """MAX_JOBS is draining: a SIGTERM then lets the jobs finish; only a later second one gives them up."""
    settings = fast_settings(worker_slots=2, max_jobs=1)
    client = make_client(settings)
    slots = Slots(settings, client, lambda number, observer: FakeRunner([]), version="1.0.0")
    slots._spent()  # the budget's last job ran
    assert all(worker.stopping for worker in slots.workers)
    with caplog.at_level(logging.INFO, "neops_worker.worker"):
        slots.request_stop("SIGTERM")
    assert "Received SIGTERM: already draining (MAX_JOBS); a second one stops at once" in caplog.text
    assert not any(worker._force.is_set() for worker in slots.workers)
    slots.request_stop("SIGTERM")  # the same request, delivered again at once
    assert not any(worker._force.is_set() for worker in slots.workers)
    first, _ = slots._signals.first or ("", 0.0)
    slots._signals.first = (first, time.monotonic() - 2)  # a second request, 2 s after the first
    slots.request_stop("SIGTERM")
    assert all(worker._force.is_set() for worker in slots.workers)
    await client.aclose()
