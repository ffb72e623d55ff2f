"""``neops_worker engine``: the local development engine in the foreground (not the production engine)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import typer

from neops_worker.cli.support import fail_usage, usage_errors
from neops_worker.devkit.local_engine import (
    EngineDependencyError,
    EngineOptions,
    default_db_path,
    require_engine_deps,
)
from neops_worker.devkit.local_engine.options import (
    OPTION_HELP,
    Contract,
    OptionError,
    format_size,
    parse_size,
)
from neops_worker.devkit.local_engine.store import EngineStore, StoreSchemaError
from neops_worker.errors import EXIT_FAILURE

#: Said in ``--help`` and at start, so nobody mistakes it for the real thing.
NOT_PRODUCTION = (
    "This is the LOCAL DEVELOPMENT engine of neops_worker, a stand-in for trying workers and blocks; "
    "it is not the production neops engine and runs no workflows."
)
#: The ``--db`` value of a database that lives in memory only.
MEMORY = ":memory:"
_DEFAULTS = EngineOptions()
_DEFAULT_BODY_SIZE = format_size(_DEFAULTS.max_body_size).replace(" ", "")

HostOption = Annotated[str, typer.Option("--host", help="Address to bind; keep it on loopback.")]
PortOption = Annotated[
    int, typer.Option("--port", min=0, max=65535, help="Port to bind; 0 picks a free one.")
]
DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="SQLite file holding the engine's state (workers, blocks, jobs), kept across restarts "
        f"(default: {default_db_path()}).",
        show_default=False,
    ),
]
MemoryOption = Annotated[
    bool,
    typer.Option("--memory", help="Keep the state in memory only: nothing is written, all is lost at exit."),
]
FreshOption = Annotated[
    bool,
    typer.Option("--fresh", help="Delete the database file first: start with no workers, blocks or jobs."),
]
HeartbeatOption = Annotated[
    float,
    typer.Option("--heartbeat-interval", help="The heartbeat interval workers are expected to keep, in s."),
]
UnreachableOption = Annotated[
    float,
    typer.Option("--unreachable-after", help="Missed intervals until a worker is shown unreachable."),
]
OfflineOption = Annotated[
    float,
    typer.Option(
        "--offline-after", help="Missed intervals until a worker expires and its claimed jobs are re-queued."
    ),
]
LogLevelOption = Annotated[
    Literal["debug", "info", "warning", "error"], typer.Option("--log-level", help="Engine log level.")
]
ContractOption = Annotated[Contract, typer.Option("--contract", help=OPTION_HELP["contract"])]
MaxRetriesOption = Annotated[int, typer.Option("--max-retries", min=0, help=OPTION_HELP["max_retries"])]
MaxWorkersOption = Annotated[
    int | None, typer.Option("--max-workers", min=0, help=OPTION_HELP["max_workers"], show_default=False)
]
MaxBlocksOption = Annotated[
    int | None,
    typer.Option("--max-function-blocks", min=0, help=OPTION_HELP["max_function_blocks"], show_default=False),
]
MaxBodyOption = Annotated[
    str, typer.Option("--max-body-size", help=OPTION_HELP["max_body_size"], show_default=False)
]
StuckOption = Annotated[
    float, typer.Option("--stuck-job-timeout", min=0, help=OPTION_HELP["stuck_job_timeout"])
]


@dataclass(frozen=True)
class ContractChoices:
    """The command's options about the contract, its retries, limits and timers."""

    contract: Contract
    max_retries: int
    max_workers: int | None
    max_function_blocks: int | None
    max_body_size: str
    stuck_job_timeout: float


def engine_command(
    *,
    host: HostOption = "127.0.0.1",
    port: PortOption = 3030,
    db: DbOption = None,
    memory: MemoryOption = False,
    fresh: FreshOption = False,
    heartbeat_interval: HeartbeatOption = _DEFAULTS.heartbeat_interval_s,
    unreachable_after: UnreachableOption = _DEFAULTS.unreachable_after,
    offline_after: OfflineOption = _DEFAULTS.offline_after,
    contract: ContractOption = _DEFAULTS.contract,
    max_retries: MaxRetriesOption = _DEFAULTS.max_retries,
    max_workers: MaxWorkersOption = None,
    max_function_blocks: MaxBlocksOption = None,
    max_body_size: MaxBodyOption = _DEFAULT_BODY_SIZE,
    stuck_job_timeout: StuckOption = _DEFAULTS.stuck_job_timeout_s,
    log_level: LogLevelOption = "info",
) -> None:
    """Serve the LOCAL DEVELOPMENT engine (not the production neops engine) until Ctrl-C or SIGTERM.

    It speaks the worker's side of the blackboard contract (0.43.0b8, or 0.42.1 with --contract),
    keeps its state in SQLite, and adds /_dev/ endpoints used by 'submit', 'jobs' and 'workers'. It
    runs no workflows: each submitted job is a one-step run, retried and rolled back as a 0.43 engine does.
    Its state outlives it: the database file (--db) keeps workers, blocks and jobs for the next start,
    unless --fresh empties it first or --memory keeps nothing.
    """
    db_path = _db_path(db, memory)
    choices = ContractChoices(
        contract, max_retries, max_workers, max_function_blocks, max_body_size, stuck_job_timeout
    )
    options = _options(heartbeat_interval, unreachable_after, offline_after, choices)
    _require_deps()
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _serve(host, port, _DbState(db_path, fresh), options, log_level)
    typer.echo(f"neops_worker local engine stopped; {_afterwards(db_path)}")


@dataclass(frozen=True)
class _DbState:
    """Where the engine keeps its state, and whether to delete what is there first."""

    path: str
    fresh: bool


def _db_path(db: str | None, memory: bool) -> str:
    """The database the options ask for: ``--db``, ``:memory:`` with ``--memory``, else the default."""
    if memory and db not in (None, MEMORY):
        raise fail_usage(f"--memory keeps the state in memory, --db {db} in a file: give one of them")
    return MEMORY if memory else db or str(default_db_path())


def _serve(host: str, port: int, db: _DbState, options: EngineOptions, log_level: str) -> None:
    """Serve until stopped; a port in use or a database of another version is one error line, exit 1."""
    from neops_worker.devkit.local_engine import serve

    try:
        announce = _announcer(_state_line(db), options)
        serve(host, port, db.path, options=options, log_level=log_level, on_ready=announce)
    except (OSError, StoreSchemaError) as exc:
        hint = "; --fresh does that" if isinstance(exc, StoreSchemaError) else ""
        typer.echo(
            f"neops_worker: error: cannot serve on {host}:{port} (database {db.path}): {exc}{hint}", err=True
        )
        raise typer.Exit(EXIT_FAILURE) from None


def _state_line(db: _DbState) -> str:
    """Where the state is, what it holds from earlier runs, and how long it lives (deleting it if fresh)."""
    if db.path == MEMORY:
        return (
            "State: in memory only (--memory): nothing is written, all of it is lost when the engine stops."
        )
    if db.fresh:
        for suffix in ("", "-wal", "-shm"):  # SQLite's write-ahead log and its index go with the file
            Path(db.path + suffix).unlink(missing_ok=True)
    store = EngineStore.open(db.path)
    try:
        counts = store.counts()
    finally:
        store.close()
    if db.fresh:
        held = "emptied (--fresh)"
    elif any(counts):
        held = (
            f"holding {counts.jobs} job(s), {counts.workers} worker(s) and {counts.function_blocks} "
            "function block(s) from earlier runs"
        )
    else:
        held = "empty"
    return f"State: {db.path}, {held}; kept across restarts (--fresh empties it, --memory keeps nothing)."


def _afterwards(db_path: str) -> str:
    """What became of the state, for the stop line."""
    if db_path == MEMORY:
        return "its state was in memory only and is gone"
    return f"its state stays in {db_path} for the next start (--fresh empties it)"


def _options(
    heartbeat_interval: float, unreachable_after: float, offline_after: float, choices: ContractChoices
) -> EngineOptions:
    try:
        return EngineOptions(
            heartbeat_interval_s=heartbeat_interval,
            unreachable_after=unreachable_after,
            offline_after=offline_after,
            contract=choices.contract,
            max_retries=choices.max_retries,
            max_workers=choices.max_workers,
            max_function_blocks=choices.max_function_blocks,
            max_body_size=parse_size(choices.max_body_size),
            stuck_job_timeout_s=choices.stuck_job_timeout,
        )
    except OptionError as exc:
        raise fail_usage(f"engine options: {exc.for_command_line()}") from None
    except ValueError as exc:  # the body size
        raise fail_usage(f"engine options: --max-body-size: {exc}") from None


def _require_deps() -> None:
    with usage_errors(EngineDependencyError):
        require_engine_deps()


def _announcer(state: str, options: EngineOptions) -> Callable[[str], None]:
    """Prints the banner once the socket listens; its last line is the one scripts wait for."""

    def announce(url: str) -> None:
        typer.echo(NOT_PRODUCTION)
        typer.echo(describe(options))
        typer.echo(state)
        typer.echo(f"Point workers at it with URL_BLACKBOARD={url}; stop it with Ctrl-C.")
        typer.echo(f"neops_worker local engine (development only) listening on {url}")

    return announce


def describe(options: EngineOptions) -> str:
    """One line on what the engine speaks and enforces, for the banner."""
    if options.current:
        retries = (
            f"{options.max_retries} retries of failed pure or idempotent jobs, rollback of reversible ones"
        )
    else:
        retries = "no retries, no rollback"
    limits = [
        f"{options.max_workers} workers" if options.max_workers is not None else "",
        f"{options.max_function_blocks} blocks" if options.max_function_blocks is not None else "",
    ]
    licence = ", ".join(limit for limit in limits if limit) or "none"
    stuck = f"{options.stuck_job_timeout_s:g} s" if options.stuck_job_timeout_s else "never"
    return (
        f"Contract {options.contract} (version {options.version}): {retries}; licence limits: {licence}; "
        f"stuck jobs failed after: {stuck}; result and log bodies up to {format_size(options.max_body_size)}."
    )
