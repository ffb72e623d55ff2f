"""Checks shared by the fault tests: every job has exactly one result and ran exactly once."""

from __future__ import annotations

import re
import time
from collections import Counter
from typing import Any

import httpx

from tests.integration.support import WorkerProcess

ECHO = "fb.examples.neops/echo:1.0.0"
SLEEP = "fb.examples.neops/sleep:1.0.0"
STARTED = re.compile(r"Job (\S+) started:")


def add_jobs(url: str, count: int, fb_id: str = ECHO, **parameters: Any) -> list[str]:
    """Queue ``count`` jobs over one connection; their ids."""
    body = {"functionBlockId": fb_id, "parameters": parameters or {"message": "m"}}
    with httpx.Client(base_url=url, timeout=30) as client:
        return [str(client.post("/_dev/jobs", json=body).json()["jobId"]) for _ in range(count)]


def job_rows(url: str) -> dict[str, dict[str, Any]]:
    """Every job row of the engine by id (with ``claims``, ``status``, ``resultStatus``)."""
    rows = httpx.get(f"{url}/_dev/jobs", timeout=30).json()
    return {row["jobId"]: row for row in rows}


def wait_all_pushed(url: str, count: int, timeout: float, *workers: WorkerProcess) -> None:
    """Wait until ``count`` jobs have a result (looking twice a second: the listing is not free)."""
    deadline = time.monotonic() + timeout
    while (pushed := len(httpx.get(f"{url}/_dev/jobs?status=pushed", timeout=30).json())) < count:
        if time.monotonic() > deadline:
            tail = "\n".join(workers[0].output[-40:]) if workers else ""
            raise AssertionError(f"only {pushed} of {count} results after {timeout} s\n{tail}")
        time.sleep(0.5)


def starts(*workers: WorkerProcess) -> Counter[str]:
    """How often each job was started, over the logs of all ``workers``."""
    return Counter(match.group(1) for worker in workers for match in STARTED.finditer(worker.log))


def assert_exactly_once(url: str, job_ids: list[str], *workers: WorkerProcess) -> None:
    """Every job: claimed once, one result (success), started once over all workers' logs."""
    rows = job_rows(url)
    started = starts(*workers)
    problems = [
        f"{job_id}: status={rows[job_id]['status']} claims={rows[job_id]['claims']} "
        f"result={rows[job_id]['resultStatus']} started={started[job_id]}"
        for job_id in job_ids
        if (rows[job_id]["status"], rows[job_id]["claims"], rows[job_id]["resultStatus"], started[job_id])
        != ("pushed", 1, "success", 1)
    ]
    assert not problems, f"{len(problems)} of {len(job_ids)} jobs not exactly once:\n" + "\n".join(
        problems[:20]
    )
