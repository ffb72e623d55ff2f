"""The vendor SDK's concurrency helpers for async blocks: threads, parallel awaits, tasks."""

from __future__ import annotations

from neops_worker.sdk.concurrency.run_in_thread import run_in_thread
from neops_worker.sdk.concurrency.run_parallel import run_parallel
from neops_worker.sdk.concurrency.tasks import schedule_task

__all__ = ["run_in_thread", "run_parallel", "schedule_task"]
