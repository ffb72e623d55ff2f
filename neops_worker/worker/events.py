"""What the worker tells the outside world about itself: an observer interface.

The lifecycle calls these hooks; metrics, the health endpoints and the systemd notifier implement
them. Every hook must be cheap and must not raise (a failing observer is logged and ignored).
"""

from __future__ import annotations

import logging
from enum import StrEnum

log = logging.getLogger("neops_worker.events")


class WorkerState(StrEnum):
    """The worker's lifecycle states."""

    STARTING = "starting"
    REGISTERED = "registered"
    IDLE = "idle"
    BUSY = "busy"
    DRAINING = "draining"
    STOPPED = "stopped"


#: The states of a worker the engine counts on: registered, with or without a job.
REGISTERED_STATES = frozenset({WorkerState.REGISTERED, WorkerState.IDLE, WorkerState.BUSY})


class WorkerObserver:
    """Hooks called by the worker; the defaults do nothing."""

    def state_changed(self, state: WorkerState, detail: str) -> None:
        """The lifecycle moved to ``state``; ``detail`` says what the worker is doing."""

    def ready(self, worker_id: str) -> None:
        """The worker and all its blocks are registered; jobs may come."""

    def heartbeat(self, ok: bool) -> None:
        """A heartbeat tick: ``ok`` when the engine accepted the ping."""

    def poll_failed(self) -> None:
        """A poll did not reach the engine or was refused."""

    def engine_reachable(self, ok: bool) -> None:
        """A call reached the engine and it answered (``ok``), or it did not answer at all."""

    def job_started(self, job_id: str, function_block: str, job_type: str) -> None:
        """A claimed job starts running."""

    def job_finished(
        self, job_id: str, function_block: str, job_type: str, outcome: str, duration_s: float
    ) -> None:
        """A job has a result (before it is pushed)."""

    def result_push_failed(self, job_id: str) -> None:
        """A result could not be delivered to the engine in the end."""

    def job_process_restarted(self, reason: str) -> None:
        """A job process was replaced: crash, timeout, abandoned, max_jobs, memory, sys_exit, template."""

    def job_process_start_failed(self, reason: str) -> None:
        """No job process could be started (the template is gone or does not answer); retried later."""


class Observers(WorkerObserver):
    """Fans every hook out to several observers, shielding the worker from their errors."""

    def __init__(self, observers: list[WorkerObserver] | None = None) -> None:
        self.observers = list(observers or [])

    def _each(self, hook: str, *args: object) -> None:
        for observer in self.observers:
            try:
                getattr(observer, hook)(*args)
            except Exception:
                log.exception("Observer %s failed in %s", type(observer).__name__, hook)

    def state_changed(self, state: WorkerState, detail: str) -> None:
        """Fan out."""
        self._each("state_changed", state, detail)

    def ready(self, worker_id: str) -> None:
        """Fan out."""
        self._each("ready", worker_id)

    def heartbeat(self, ok: bool) -> None:
        """Fan out."""
        self._each("heartbeat", ok)

    def poll_failed(self) -> None:
        """Fan out."""
        self._each("poll_failed")

    def engine_reachable(self, ok: bool) -> None:
        """Fan out."""
        self._each("engine_reachable", ok)

    def job_started(self, job_id: str, function_block: str, job_type: str) -> None:
        """Fan out."""
        self._each("job_started", job_id, function_block, job_type)

    def job_finished(
        self, job_id: str, function_block: str, job_type: str, outcome: str, duration_s: float
    ) -> None:
        """Fan out."""
        self._each("job_finished", job_id, function_block, job_type, outcome, duration_s)

    def result_push_failed(self, job_id: str) -> None:
        """Fan out."""
        self._each("result_push_failed", job_id)

    def job_process_restarted(self, reason: str) -> None:
        """Fan out."""
        self._each("job_process_restarted", reason)

    def job_process_start_failed(self, reason: str) -> None:
        """Fan out."""
        self._each("job_process_start_failed", reason)
