"""Prometheus metrics of one daemon, in a registry of its own, observed slot by slot.

``prometheus_client`` lives here for the worker (and in ``neops_worker.backlog`` for the backlog
exporter). Each :class:`WorkerMetrics` owns a private ``CollectorRegistry`` (not the process-wide
default), so several daemons, as in tests, never share or clash on a metric. Each slot observes into
it through its own :class:`SlotMetrics` (``WorkerMetrics.slot``): the series an operator needs per slot
carry a ``slot`` label ("1".."N", also when there is one slot); jobs, durations, lost results and the
engine's reachability are the daemon's. The metrics also remember when each slot's last heartbeat
succeeded and when the engine last answered, which the health listener uses (an engine that does not
answer makes a daemon unready, never dead: ``/livez`` is about its own loop and job processes).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from neops_worker.worker.events import WorkerObserver

#: Job durations range from milliseconds (pure blocks) to many minutes (device work).
DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)

Clock = Callable[[], float]


class WorkerMetrics:
    """The daemon's registry: jobs, durations and failures, per slot where it matters."""

    def __init__(self, clock: Clock = time.monotonic, slots: int = 1) -> None:
        self.clock = clock
        self.registry = CollectorRegistry(auto_describe=True)
        self.created_at = clock()
        #: When the engine last answered anything, and whether its last answer was a success.
        self.last_engine_answer: float | None = None
        self.engine_answering = False
        #: How many slots are registered with the engine now (the slot group says).
        self.registered_slots: Callable[[], int] = lambda: 0
        self._slots: dict[int, SlotMetrics] = {}
        self._declare_daemon()
        self._declare_slots()
        self.slot_count.set(slots)
        for number in range(1, slots + 1):
            self.slot(number)

    def _declare_daemon(self) -> None:
        job_labels = ("function_block", "job_type")
        reg = self.registry
        self.jobs = Counter(
            "neops_worker_jobs",
            "Jobs run, by block, type and outcome.",
            (*job_labels, "outcome"),
            registry=reg,
        )
        self.job_duration = Histogram(
            "neops_worker_job_duration_seconds",
            "Time from job start to result (before the push).",
            job_labels,
            buckets=DURATION_BUCKETS,
            registry=reg,
        )
        self.result_push_failures = Counter(
            "neops_worker_result_push_failures", "Job results that could not be delivered.", registry=reg
        )
        up = Gauge("neops_worker_engine_up", "1 while the engine answers the worker, else 0.", registry=reg)
        up.set_function(lambda: 1.0 if self.engine_answering else 0.0)
        self.slot_count = Gauge("neops_worker_slots", "Job slots in this daemon.", registry=reg)
        busy = Gauge("neops_worker_slots_busy", "Slots running a job now.", registry=reg)
        busy.set_function(lambda: float(sum(slot.busy for slot in self._slots.values())))
        registered = Gauge(
            "neops_worker_slots_registered", "Slots registered with the engine now.", registry=reg
        )
        registered.set_function(lambda: float(self.registered_slots()))

    def _declare_slots(self) -> None:
        reg, slot = self.registry, ("slot",)
        self.job_running = Gauge(
            "neops_worker_job_running", "1 while the slot runs a job.", slot, registry=reg
        )
        self.since_heartbeat = Gauge(
            "neops_worker_seconds_since_last_heartbeat",
            "Seconds since the slot's last accepted heartbeat (since start-up before the first one).",
            slot,
            registry=reg,
        )
        self.poll_failures = Counter("neops_worker_poll_failures", "Polls that failed.", slot, registry=reg)
        self.heartbeat_failures = Counter(
            "neops_worker_heartbeat_failures", "Heartbeats the engine did not accept.", slot, registry=reg
        )
        self.job_process_restarts = Counter(
            "neops_worker_job_process_restarts",
            "Job processes replaced, by reason (crash, timeout, abandoned, max_jobs, memory, ...).",
            ("slot", "reason"),
            registry=reg,
        )
        self.start_failures = Counter(
            "neops_worker_job_process_start_failures",
            "Times no job process could be started for the slot (each retried after a growing pause).",
            slot,
            registry=reg,
        )

    def slot(self, number: int) -> SlotMetrics:
        """The observer of slot ``number`` (made, with its series at zero, on first use)."""
        if number not in self._slots:
            self._slots[number] = SlotMetrics(self, number)
        return self._slots[number]

    def render(self) -> tuple[bytes, str]:
        """The metrics in the Prometheus text format, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def engine_reachable(self, ok: bool) -> None:
        """Remember whether the engine answered."""
        self.engine_answering = ok
        if ok:
            self.last_engine_answer = self.clock()

    def seconds_since_engine_answer(self) -> float:
        """Seconds since the engine last answered, or since start-up if it never did."""
        return self.clock() - (self.last_engine_answer or self.created_at)


class SlotMetrics(WorkerObserver):
    """One slot's view of the daemon's metrics: its labelled series, and the daemon's shared ones."""

    def __init__(self, daemon: WorkerMetrics, number: int) -> None:
        self.daemon = daemon
        self.label = str(number)
        self.busy = False
        self.last_heartbeat_ok: float | None = None
        self._running = daemon.job_running.labels(self.label)
        self._running.set(0)
        daemon.since_heartbeat.labels(self.label).set_function(self.seconds_since_heartbeat)
        self._polls = daemon.poll_failures.labels(self.label)
        self._heartbeats = daemon.heartbeat_failures.labels(self.label)
        self._start_failures = daemon.start_failures.labels(self.label)

    def seconds_since_heartbeat(self) -> float:
        """Seconds since the engine last accepted this slot's ping, or since start-up if it never did."""
        return self.daemon.clock() - (self.last_heartbeat_ok or self.daemon.created_at)

    def heartbeat(self, ok: bool) -> None:
        """Remember a success; count a failure."""
        if ok:
            self.last_heartbeat_ok = self.daemon.clock()
        else:
            self._heartbeats.inc()

    def poll_failed(self) -> None:
        """Count it."""
        self._polls.inc()

    def engine_reachable(self, ok: bool) -> None:
        """The daemon's engine answered, or not."""
        self.daemon.engine_reachable(ok)

    def job_process_restarted(self, reason: str) -> None:
        """Count it."""
        self.daemon.job_process_restarts.labels(self.label, reason).inc()

    def job_process_start_failed(self, reason: str) -> None:
        """Count it."""
        self._start_failures.inc()

    def job_started(self, job_id: str, function_block: str, job_type: str) -> None:
        """The slot runs a job now."""
        self.busy = True
        self._running.set(1)

    def job_finished(
        self, job_id: str, function_block: str, job_type: str, outcome: str, duration_s: float
    ) -> None:
        """Count and time the job; the slot runs no job any more."""
        self.daemon.jobs.labels(function_block, job_type, outcome).inc()
        self.daemon.job_duration.labels(function_block, job_type).observe(duration_s)
        self.busy = False
        self._running.set(0)

    def result_push_failed(self, job_id: str) -> None:
        """Count it."""
        self.daemon.result_push_failures.inc()


__all__ = ["DURATION_BUCKETS", "SlotMetrics", "WorkerMetrics"]
