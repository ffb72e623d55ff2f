"""Rich output of the operator commands: job and worker tables, one run's outcome.

A cell is built by one small function per column (``kind_text``, ``state_cell``, ``run_text``...), so the
tables, ``submit --wait`` and the demo show a job the same way.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from rich.console import Console
from rich.json import JSON
from rich.table import Table
from rich.text import Text

from neops_worker.devkit.local_engine.models import DevFunctionBlock, DevJob, DevJobDetail, DevWorker

#: How each job state is shown: the engine's ``pending``/``polled``, or the result status once pushed.
STATE_STYLES = {
    "pending": "dim",
    "running": "yellow",
    "success": "green",
    "success-ack": "green",
    "failed": "red",
    "failed-ack": "red",
}
#: How each run state is shown: in progress, done, failed safely (nothing left changed) or not.
RUN_STYLES = {
    "RUNNING": "yellow",
    "ROLLBACK": "yellow",
    "COMPLETED": "green",
    "FAILED": "red",
    "FAILED_SAFE": "yellow",
    "FAILED_UNSAFE": "bold red",
}
WORKER_STYLES = {"online": "green", "unreachable": "yellow", "offline": "dim"}


def job_state(job: DevJob) -> str:
    """``pending``, ``running`` (claimed by a worker), or the result status once it has one."""
    if job.status == "pushed":
        return job.result_status or "pushed"
    return "running" if job.status == "polled" else job.status


#: What ``jobs --status`` takes: each state :func:`job_state` shows (``success`` and ``failed`` with their
#: ``-ack`` forms), and the engine's own ``polled`` and ``pushed``. Each maps to the engine's status to
#: ask for and, when that is not precise enough, the shown states to keep.
STATE_FILTERS: dict[str, tuple[str, frozenset[str] | None]] = {
    "pending": ("pending", None),
    "running": ("polled", None),
    "success": ("pushed", frozenset({"success", "success-ack"})),
    "failed": ("pushed", frozenset({"failed", "failed-ack"})),
    "success-ack": ("pushed", frozenset({"success-ack"})),
    "failed-ack": ("pushed", frozenset({"failed-ack"})),
    "polled": ("polled", None),
    "pushed": ("pushed", None),
}


def in_state(job: DevJob, given: str) -> bool:
    """Whether ``job`` is in the state ``jobs --status`` was given (a key of :data:`STATE_FILTERS`)."""
    status, shown = STATE_FILTERS[given]
    return job.status == status and (shown is None or job_state(job) in shown)


def state_text(state: str) -> Text:
    """The state word in its colour."""
    return Text(state, style=STATE_STYLES.get(state, ""))


def state_cell(job: DevJob) -> Text:
    """The job's state, with what else is worth knowing: claims, who failed it, its ``retryable``."""
    cell = state_text(job_state(job))
    notes = []
    if job.claims > 1:
        notes.append(f"{job.claims} claims")
    if job.failed_by_engine:
        notes.append("by the engine")
    if job.retryable is not None:
        notes.append(f"retryable: {str(job.retryable).lower()}")
    if notes:
        cell.append(f" ({', '.join(notes)})", style="yellow")
    return cell


def kind_text(job: DevJob) -> str:
    """The type and link: ``execute``, ``execute, attempt 2 (retry of a1b2c3d4)``, ``rollback of ...``."""
    if job.rollback_of is not None:
        return f"rollback of {short_id(job.rollback_of)}"
    if job.retry_of is not None:
        return f"{job.type}, attempt {job.attempt} (retry of {short_id(job.retry_of)})"
    return job.type


def run_text(job: DevJob) -> Text:
    """Where the job's run stands: ``RUNNING``, ``ROLLBACK``, or how it ended (``FAILED_SAFE``...)."""
    return Text(job.run_state, style=RUN_STYLES.get(job.run_state, ""))


def seconds(value: float | None) -> str:
    """``1.23 s``, or ``-`` when unknown."""
    return "-" if value is None else f"{value:.2f} s"


def ago(age_s: float | None) -> str:
    """``1.2 s ago``, ``42 s ago``, ``12 min ago``, ``3 h ago``, ``2 days ago``; ``-``: not yet."""
    if age_s is None:
        return "-"
    age_s = max(0.0, age_s)
    if age_s < 10:
        return f"{age_s:.1f} s ago"
    if age_s < 60:
        return f"{age_s:.0f} s ago"
    if age_s < 3600:
        return f"{age_s // 60:.0f} min ago"
    if age_s < 2 * 86400:
        return f"{age_s // 3600:.0f} h ago"
    return f"{age_s // 86400:.0f} days ago"


def db_update_count(job: DevJobDetail) -> int:
    """How many ``dbUpdates`` the stored result carries."""
    result: dict[str, Any] = (job.result or {}).get("result") or {}
    return len((result.get("dbUpdates") or {}).get("updates") or [])


def short_id(uuid: str | None) -> str:
    """The first 8 characters of an id, as tables show it (``--json`` has the full ids)."""
    return "-" if uuid is None else uuid[:8]


def jobs_table(jobs: list[DevJob], total: int) -> Table:
    """One row per job: id, kind (retry, rollback), state, run state, block, worker, when it was created
    and finished, how long it ran, message."""
    shown = f"{total} job(s)" if len(jobs) == total else f"last {len(jobs)} of {total} job(s)"
    table = Table(title=f"{shown}; ids shortened, --json has them in full", title_justify="left")
    table.add_column("Job", no_wrap=True)
    table.add_column("Kind", overflow="fold")
    table.add_column("State", overflow="fold")
    table.add_column("Run", no_wrap=True)
    table.add_column("Block", overflow="fold")
    table.add_column("Worker", overflow="fold")
    table.add_column("Created", justify="right", no_wrap=True)
    table.add_column("Finished", justify="right", no_wrap=True)
    table.add_column("Took", justify="right", no_wrap=True)
    table.add_column("Message", overflow="fold", ratio=1)
    for job in jobs:
        table.add_row(
            short_id(job.job_id),
            kind_text(job),
            state_cell(job),
            run_text(job),
            job.function_block_id,
            job.worker_name or short_id(job.worker_id),
            ago(job.created_age_s),
            ago(job.finished_age_s),
            seconds(job.duration_s),
            job.result_message or "",
        )
    return table


def workers_table(workers: list[DevWorker], blocks: Sequence[DevFunctionBlock] = ()) -> Table:
    """One row per worker: name, id, state, last seen, claimed jobs and blocks (how many reversible)."""
    reversible = {block.function_block_id for block in blocks if block.reversible}
    table = Table(title=f"{len(workers)} worker(s)", title_justify="left")
    table.add_column("Name", overflow="fold", min_width=6)
    table.add_column("Id", no_wrap=True)
    table.add_column("State", no_wrap=True)
    table.add_column("Last seen", justify="right", no_wrap=True)
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
            ago(worker.last_seen_age_s),
            str(worker.claimed_jobs),
            block_count(worker.function_blocks, reversible),
        )
    return table


def block_count(fb_ids: Collection[str], reversible: Collection[str]) -> str:
    """``5``, or ``5 (1 reversible)``."""
    count = sum(fb_id in reversible for fb_id in fb_ids)
    return f"{len(fb_ids)} ({count} reversible)" if count else str(len(fb_ids))


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


def print_run(console: Console, shown: DevJobDetail, run: Sequence[DevJob]) -> None:
    """The other jobs of the run (retries, rollback jobs) one line each, then the run's end state."""
    for job in run:
        if job.job_id == shown.job_id:
            continue
        line = Text(f"Job {job.job_id} {kind_text(job)}: ")
        line.append_text(state_cell(job))
        if job.result_message:
            line.append(f": {job.result_message}")
        console.print(line, soft_wrap=True)
    attempts = sum(job.rollback_of is None for job in run)
    line = Text(f"Run {shown.run_id} ")
    line.append_text(run_text(run[-1]))
    line.append(f" ({attempts} attempt(s), {len(run) - attempts} rollback job(s))")
    console.print(line, soft_wrap=True)


__all__ = [
    "STATE_FILTERS",
    "ago",
    "block_count",
    "db_update_count",
    "in_state",
    "job_state",
    "jobs_table",
    "kind_text",
    "print_job_result",
    "print_run",
    "run_text",
    "seconds",
    "short_id",
    "state_cell",
    "state_text",
    "workers_table",
]
