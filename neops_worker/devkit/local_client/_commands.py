"""``submit``, ``jobs`` and ``workers``: operate a running local engine over HTTP (its ``/_dev/`` routes).

``submit BLOCK`` queues a job, a one-step run; ``submit --rollback-of JOB`` has the engine roll a failed
job back later, as its remediation endpoint does. ``--wait`` follows the run to its end: retries of the
job, rollback jobs, and the run's end state.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from typing import Annotated, Literal

import typer
from rich.console import Console

from neops_worker.cli.support import (
    ContextFileOption,
    EntityIdOption,
    JobTypeOption,
    ParamOption,
    ParamsFileOption,
    RunOnOption,
    fail_usage,
    settings_or_exit,
    usage_errors,
)
from neops_worker.devkit.local_client._client import DevClient
from neops_worker.devkit.local_client._render import (
    STATE_FILTERS,
    in_state,
    jobs_table,
    print_job_result,
    print_run,
    workers_table,
)
from neops_worker.devkit.local_client._submit import (
    JobInput,
    build_job,
    final_attempt,
    job_problems,
    resolve_block,
    resolve_job_id,
    wait_for_run,
)
from neops_worker.devkit.local_engine.models import DevJob, DevJobDetail, NewJob
from neops_worker.errors import EXIT_FAILURE, EXIT_OK, EngineError, EngineRejected

UrlOption = Annotated[
    str | None,
    typer.Option("--url", help="Base URL of the local engine (default: URL_BLACKBOARD).", show_default=False),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for machines instead of tables.")]
BlockArgument = Annotated[
    str | None,
    typer.Argument(
        help="'package/name:1.2.3', or 'package/name' or a name registered exactly once.", show_default=False
    ),
]
RollbackOfOption = Annotated[
    str | None,
    typer.Option(
        "--rollback-of",
        help="Instead of BLOCK: roll back this failed execute job (its id, or the start of it) with its "
        "parameters and context, as the engine's remediation does; reversible blocks only, again if asked.",
        show_default=False,
    ),
]
WaitOption = Annotated[
    bool,
    typer.Option("--wait", help="Wait for the run to end (retries, rollback); exit 1 if the job failed."),
]
TimeoutOption = Annotated[
    float, typer.Option("--timeout", min=0, help="With --wait: give up after this many seconds (0: never).")
]
StatusOption = Annotated[
    Literal["pending", "running", "success", "failed", "success-ack", "failed-ack", "polled", "pushed"]
    | None,
    typer.Option(
        "--status",
        help="Only jobs in this state, as the State column shows it (success and failed include their -ack "
        "forms); the engine's own words work too: polled is running, pushed is any result.",
        show_default=False,
    ),
]
ForceOption = Annotated[
    bool,
    typer.Option(
        "--force", help="Send the job although its parameters do not fit the block's registered schema."
    ),
]
LimitOption = Annotated[
    int, typer.Option("--limit", min=0, help="Show the newest N jobs in the table (0: all).")
]


def submit_command(
    block: BlockArgument = None,
    *,
    rollback_of: RollbackOfOption = None,
    param: ParamOption = None,
    params_file: ParamsFileOption = None,
    context_file: ContextFileOption = None,
    job_type: JobTypeOption = "execute",
    run_on: RunOnOption = None,
    entity_id: EntityIdOption = None,
    wait: WaitOption = False,
    timeout: TimeoutOption = 60.0,
    force: ForceOption = False,
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Queue a job on the local engine and print its id; with --wait, wait for its run and print the result.

    The parameters are checked against the schema the block registered: unknown or missing keys and
    values of the wrong type are refused (exit 2) unless --force sends the job anyway.
    With --json: {"jobId": ...}, or with --wait the job's last attempt with its stored result, as one
    JSON document.
    """
    given = JobInput(param or [], params_file, context_file, job_type, run_on, entity_id)
    with _engine(url) as client:
        if rollback_of:
            job_id = _rollback(client, rollback_of, block, given)
        else:
            job_id = _queue(client, block, given, force)
        if not wait:
            typer.echo(json.dumps({"jobId": job_id}) if as_json else job_id)
            return
        if not as_json:  # with --json the job (id included) is printed as one document at the end
            typer.echo(job_id)
        raise typer.Exit(_await_result(client, job_id, timeout, as_json))


def jobs_command(
    status: StatusOption = None, limit: LimitOption = 50, url: UrlOption = None, as_json: JsonOption = False
) -> None:
    """List the engine's jobs: id, state, block, worker, when created and finished, duration, message."""
    with _engine(url) as client:
        jobs = client.jobs(STATE_FILTERS[status][0] if status else None)
    if status:
        jobs = [job for job in jobs if in_state(job, status)]
    if as_json:
        typer.echo(json.dumps([job.to_wire() for job in jobs], indent=2))
        return
    shown = jobs[-limit:] if limit else jobs
    _stdout().print(jobs_table(shown, len(jobs)))


def workers_command(url: UrlOption = None, as_json: JsonOption = False) -> None:
    """List the workers the engine knows: state, last seen, claimed jobs, blocks (how many reversible)."""
    with _engine(url) as client:
        workers = client.workers()
        blocks = [] if as_json else client.function_blocks()
    if as_json:
        typer.echo(json.dumps([worker.to_wire() for worker in workers], indent=2))
    else:
        _stdout().print(workers_table(workers, blocks))


# --- shared ---------------------------------------------------------------------------------


def _queue(client: DevClient, block: str | None, given: JobInput, force: bool) -> str:
    """Queue a job for ``block``; its id."""
    if block is None:
        raise fail_usage("name the block to run (BLOCK), or a failed job to roll back (--rollback-of)")
    return client.add_job(_new_job(client, block, given, force))


def _rollback(client: DevClient, given_id: str, block: str | None, given: JobInput) -> str:
    """Have the engine roll back the failed job ``given_id`` (or the one its id starts with); the new id."""
    if block is not None or not given.empty:
        raise fail_usage(
            "--rollback-of takes the failed job's block, parameters and context: give nothing else"
        )
    with usage_errors():
        job_id = resolve_job_id(given_id, client.jobs())
    return client.rollback(job_id)


def _new_job(client: DevClient, block: str, given: JobInput, force: bool) -> NewJob:
    """The job to queue, for the block ``block`` names among those the engine knows (bad input: exit 2)."""
    with usage_errors():
        resolved = resolve_block(block, client.function_blocks())
        job = build_job(resolved, given)
    if resolved.registered is None:
        _warn(
            f"no worker has registered {resolved.fb_id} yet, so its parameters cannot be checked; "
            "the job waits until a worker serves it"
        )
        return job
    problems = job_problems(resolved.registered, job)
    if problems and not force:
        raise fail_usage(f"{problems}; fix them, or send the job anyway with --force")
    if problems:
        _warn(f"{problems}; sending the job anyway (--force)")
    return job


def _await_result(client: DevClient, job_id: str, timeout: float, as_json: bool) -> int:
    """Wait for the job's run to end and print its outcome; the exit code says whether the job succeeded."""
    run = wait_for_run(client, job_id, timeout)
    if run is None:
        job = client.job(job_id)
        state = f"{job.status}, run {job.run_state}"
        typer.echo(f"neops_worker: error: job {job_id} has no result after {timeout:g} s ({state})", err=True)
        return EXIT_FAILURE
    last = client.job(final_attempt(run, job_id).job_id)
    _print_result(last, run, as_json)
    return EXIT_OK if last.result_status in ("success", "success-ack") else EXIT_FAILURE


def _print_result(job: DevJobDetail, run: list[DevJob], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(job.to_wire(), indent=2))
        return
    console = _stdout()
    print_job_result(console, job)
    print_run(console, job, run)


@contextlib.contextmanager
def _engine(url: str | None) -> Iterator[DevClient]:
    """A client of the engine at ``url`` (default: URL_BLACKBOARD); engine errors become one line."""
    if url is None:
        url = settings_or_exit().base_url
    try:
        with DevClient(url) as client:
            yield client
    except EngineError as exc:
        typer.echo(f"neops_worker: error: {_explain(exc, url)}", err=True)
        raise typer.Exit(EXIT_FAILURE) from None


def _explain(exc: EngineError, url: str) -> str:
    """The error, with a hint when the URL is probably not a running local engine."""
    if isinstance(exc, EngineRejected) and exc.status == 404:
        return f"{exc} (is {url} the local engine? only 'neops_worker engine' serves /_dev/)"
    if not isinstance(exc, EngineRejected) and exc.status is None:
        return f"{exc}; is it running? start one with 'neops_worker engine'"
    return str(exc)


def _warn(message: str) -> None:
    typer.echo(f"neops_worker: warning: {message}", err=True)


def _stdout() -> Console:
    return Console(file=sys.stdout, soft_wrap=False)
