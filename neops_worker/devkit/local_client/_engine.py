"""``neops_worker engine``: the local development engine in the foreground (not the production engine)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Literal

import typer

from neops_worker.cli.support import fail_usage, usage_errors
from neops_worker.devkit.local_engine import (
    EngineDependencyError,
    EngineOptions,
    default_db_path,
    require_engine_deps,
)
from neops_worker.devkit.local_engine.options import OPTION_HELP, Contract, format_size, parse_size
from neops_worker.devkit.local_engine.store import StoreSchemaError
from neops_worker.errors import EXIT_FAILURE

#: Said in ``--help`` and at start, so nobody mistakes it for the real thing.
NOT_PRODUCTION = (
    "This is the LOCAL DEVELOPMENT engine of neops_worker, a stand-in for trying workers and blocks; "
    "it is not the production neops engine and runs no workflows."
)
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
        help=f"SQLite file holding the engine's state, or :memory: (default: {default_db_path()}).",
        show_default=False,
    ),
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
    """
    choices = ContractChoices(
        contract, max_retries, max_workers, max_function_blocks, max_body_size, stuck_job_timeout
    )
    options = _options(heartbeat_interval, unreachable_after, offline_after, choices)
    _require_deps()
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _serve(host, port, db or str(default_db_path()), options, log_level)
    typer.echo("neops_worker local engine stopped")


def _serve(host: str, port: int, db_path: str, options: EngineOptions, log_level: str) -> None:
    """Serve until stopped; a port in use or a database of another version is one error line, exit 1."""
    from neops_worker.devkit.local_engine import serve

    try:
        announce = _announcer(db_path, options)
        serve(host, port, db_path, options=options, log_level=log_level, on_ready=announce)
    except (OSError, StoreSchemaError) as exc:
        typer.echo(
            f"neops_worker: error: cannot serve on {host}:{port} (database {db_path}): {exc}", err=True
        )
        raise typer.Exit(EXIT_FAILURE) from None


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
    except ValueError as exc:
        raise fail_usage(f"engine options: {exc}") from None


def _require_deps() -> None:
    with usage_errors(EngineDependencyError):
        require_engine_deps()


def _announcer(db_path: str, options: EngineOptions) -> Callable[[str], None]:
    """Prints the banner once the socket listens; its last line is the one scripts wait for."""
    stored = "in memory, lost at exit" if db_path == ":memory:" else db_path

    def announce(url: str) -> None:
        typer.echo(NOT_PRODUCTION)
        typer.echo(describe(options))
        typer.echo(f"State: {stored}. Point workers at it with URL_BLACKBOARD={url}; stop it with Ctrl-C.")
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
