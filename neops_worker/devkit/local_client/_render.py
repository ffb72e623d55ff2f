"""Rich output of the operator commands: job and worker tables, one job's result."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.json import JSON
from rich.table import Table
from rich.text import Text

from neops_worker.devkit.local_engine.models import DevJob, DevJobDetail, DevWorker

#: How each job state is shown: the engine's ``pending``/``polled``, or the result status once pushed.
STATE_STYLES = {
    "pending": "dim",
    "running": "yellow",
    "success": "green",
    "success-ack": "green",
    "failed": "red",
    "failed-ack": "red",
}
WORKER_STYLES = {"online": "green", "unreachable": "yellow", "offline": "dim"}


def job_state(job: DevJob) -> str:
    """``pending``, ``running`` (claimed by a worker), or the result status once it has one."""
    if job.status == "pushed":
        return job.result_status or "pushed"
    return "running" if job.status == "polled" else job.status


def state_text(state: str) -> Text:
    """The state word in its colour."""
    return Text(state, style=STATE_STYLES.get(state, ""))


def seconds(value: float | None) -> str:
    """``1.23 s``, or ``-`` when unknown."""
    return "-" if value is None else f"{value:.2f} s"


def db_update_count(job: DevJobDetail) -> int:
    """How many ``dbUpdates`` the stored result carries."""
    result: dict[str, Any] = (job.result or {}).get("result") or {}
    return len((result.get("dbUpdates") or {}).get("updates") or [])


def short_id(uuid: str | None) -> str:
    """The first 8 characters of an id, as tables show it (``--json`` has the full ids)."""
    return "-" if uuid is None else uuid[:8]


def jobs_table(jobs: list[DevJob], total: int) -> Table:
    """One row per job: id, state, block, worker, duration and result message."""
    shown = f"{total} job(s)" if len(jobs) == total else f"last {len(jobs)} of {total} job(s)"
    table = Table(title=f"{shown}; ids shortened, --json has them in full", title_justify="left")
    table.add_column("Job", no_wrap=True)
    table.add_column("State", no_wrap=True)
    table.add_column("Block", overflow="fold")
    table.add_column("Worker", overflow="fold")
    table.add_column("Time", justify="right", no_wrap=True)
    table.add_column("Message", overflow="fold", ratio=1)
    for job in jobs:
        state = state_text(job_state(job))
        if job.claims > 1:
            state.append(f" ({job.claims} claims)", style="yellow")
        worker = job.worker_name or short_id(job.worker_id)
        table.add_row(
            short_id(job.job_id),
            state,
            job.function_block_id,
            worker,
            seconds(job.duration_s),
            job.result_message or "",
        )
    return table


def workers_table(workers: list[DevWorker]) -> Table:
    """One row per worker: name, id, state, last ping, claimed jobs and registered blocks."""
    table = Table(title=f"{len(workers)} worker(s)", title_justify="left")
    table.add_column("Name", overflow="fold", min_width=6)
    table.add_column("Id", no_wrap=True)
    table.add_column("State", no_wrap=True)
    table.add_column("Last ping", justify="right", no_wrap=True)
    table.add_column("Jobs", justify="right", no_wrap=True)
    table.add_column("Blocks", justify="right", no_wrap=True)
    for worker in workers:
        state = Text(worker.state, style=WORKER_STYLES.get(worker.state, ""))
        if worker.expired and worker.state != "offline":
            state.append(" (expired)", style="dim")
        table.add_row(
            worker.name or "-",
            short_id(worker.uuid),
            state,
            f"{worker.last_ping_age_s:.1f} s ago",
            str(worker.claimed_jobs),
            str(len(worker.function_blocks)),
        )
    return table


def print_job_result(console: Console, job: DevJobDetail) -> None:
    """The outcome line, then the stored result body (message, data, dbUpdates) as JSON."""
    line = Text(f"Job {job.job_id} ")
    line.append_text(state_text(job_state(job)))
    line.append(f" in {seconds(job.duration_s)} on {job.worker_name or job.worker_id or '-'}")
    if job.result_message:
        line.append(f": {job.result_message}")
    console.print(line, soft_wrap=True)
    body = (job.result or {}).get("result")
    if body:
        console.print(JSON.from_data(body))


__all__ = [
    "db_update_count",
    "job_state",
    "jobs_table",
    "print_job_result",
    "seconds",
    "short_id",
    "state_text",
    "workers_table",
]
