"""Prometheus metrics of one worker, kept by an observer in a registry of its own.

The only home of ``prometheus_client``. Each :class:`WorkerMetrics` owns a private
``CollectorRegistry`` (not the process-wide default), so several workers, as in tests, never share
or clash on a metric. The observer also remembers when the last heartbeat succeeded, which the
health listener's ``/readyz`` uses (an engine that does not answer makes a worker unready, never
dead: ``/livez`` is about the worker's own loop and job process).
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


class WorkerMetrics(WorkerObserver):
    """Counts jobs and failures, times jobs, and tracks heartbeats, in a private registry."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self.clock = clock
        self.registry = CollectorRegistry(auto_describe=True)
        self.created_at = clock()
        self.last_heartbeat_ok: float | None = None
        #: When the engine last answered anything, and whether its last answer was a success.
        self.last_engine_answer: float | None = None
        self.engine_answering = False
        self._declare()

    def _declare(self) -> None:
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
        self.poll_failures = Counter("neops_worker_poll_failures", "Polls that failed.", registry=reg)
        self.heartbeat_failures = Counter(
            "neops_worker_heartbeat_failures", "Heartbeats the engine did not accept.", registry=reg
        )
        self.result_push_failures = Counter(
            "neops_worker_result_push_failures", "Job results that could not be delivered.", registry=reg
        )
        self.job_running = Gauge("neops_worker_job_running", "1 while a job runs, else 0.", registry=reg)
        since = Gauge(
            "neops_worker_seconds_since_last_heartbeat",
            "Seconds since the last accepted heartbeat (since start-up before the first one).",
            registry=reg,
        )
        since.set_function(self.seconds_since_heartbeat)
        self.job_process_restarts = Counter(
            "neops_worker_job_process_restarts",
            "Job processes replaced, by reason (crash, timeout, abandoned, max_jobs, memory, ...).",
            ("reason",),
            registry=reg,
        )
        up = Gauge("neops_worker_engine_up", "1 while the engine answers the worker, else 0.", registry=reg)
        up.set_function(lambda: 1.0 if self.engine_answering else 0.0)

    def seconds_since_heartbeat(self) -> float:
        """Seconds since the engine last accepted a ping, or since start-up if it never did."""
        return self.clock() - (self.last_heartbeat_ok or self.created_at)

    def render(self) -> tuple[bytes, str]:
        """The metrics in the Prometheus text format, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def heartbeat(self, ok: bool) -> None:
        """Remember a success; count a failure."""
        if ok:
            self.last_heartbeat_ok = self.clock()
        else:
            self.heartbeat_failures.inc()

    def poll_failed(self) -> None:
        """Count it."""
        self.poll_failures.inc()

    def engine_reachable(self, ok: bool) -> None:
        """Remember whether the engine answered."""
        self.engine_answering = ok
        if ok:
            self.last_engine_answer = self.clock()

    def seconds_since_engine_answer(self) -> float:
        """Seconds since the engine last answered, or since start-up if it never did."""
        return self.clock() - (self.last_engine_answer or self.created_at)

    def job_process_restarted(self, reason: str) -> None:
        """Count it."""
        self.job_process_restarts.labels(reason).inc()

    def job_started(self, job_id: str, function_block: str, job_type: str) -> None:
        """A job runs now."""
        self.job_running.set(1)

    def job_finished(
        self, job_id: str, function_block: str, job_type: str, outcome: str, duration_s: float
    ) -> None:
        """Count and time the job; no job runs any more."""
        self.jobs.labels(function_block, job_type, outcome).inc()
        self.job_duration.labels(function_block, job_type).observe(duration_s)
        self.job_running.set(0)

    def result_push_failed(self, job_id: str) -> None:
        """Count it."""
        self.result_push_failures.inc()


__all__ = ["DURATION_BUCKETS", "WorkerMetrics"]
