"""``neops_worker engine``: the local development engine in the foreground (not the production engine)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated, Literal

import typer

from neops_worker.cli.support import fail_usage, usage_errors
from neops_worker.devkit.local_engine import (
    EngineDependencyError,
    EngineOptions,
    default_db_path,
    require_engine_deps,
)
from neops_worker.errors import EXIT_FAILURE

#: Said in ``--help`` and at start, so nobody mistakes it for the real thing.
NOT_PRODUCTION = (
    "This is the LOCAL DEVELOPMENT engine of neops_worker, a stand-in for trying workers and blocks; "
    "it is not the production neops engine and runs no workflows."
)
_DEFAULTS = EngineOptions()

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


def engine_command(
    *,
    host: HostOption = "127.0.0.1",
    port: PortOption = 3030,
    db: DbOption = None,
    heartbeat_interval: HeartbeatOption = _DEFAULTS.heartbeat_interval_s,
    unreachable_after: UnreachableOption = _DEFAULTS.unreachable_after,
    offline_after: OfflineOption = _DEFAULTS.offline_after,
    log_level: LogLevelOption = "info",
) -> None:
    """Serve the LOCAL DEVELOPMENT engine (not the production neops engine) until Ctrl-C or SIGTERM.

    It speaks the worker's side of the blackboard contract, keeps its state in SQLite, and adds
    /_dev/ endpoints used by 'submit', 'jobs' and 'workers'. It runs no workflows.
    """
    options = _options(heartbeat_interval, unreachable_after, offline_after)
    _require_deps()
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    db_path = db or str(default_db_path())
    from neops_worker.devkit.local_engine import serve

    try:
        serve(host, port, db_path, options=options, log_level=log_level, on_ready=_announcer(db_path))
    except OSError as exc:
        typer.echo(
            f"neops_worker: error: cannot serve on {host}:{port} (database {db_path}): {exc}", err=True
        )
        raise typer.Exit(EXIT_FAILURE) from None
    typer.echo("neops_worker local engine stopped")


def _options(heartbeat_interval: float, unreachable_after: float, offline_after: float) -> EngineOptions:
    try:
        return EngineOptions(
            heartbeat_interval_s=heartbeat_interval,
            unreachable_after=unreachable_after,
            offline_after=offline_after,
        )
    except ValueError as exc:
        raise fail_usage(f"engine options: {exc}") from None


def _require_deps() -> None:
    with usage_errors(EngineDependencyError):
        require_engine_deps()


def _announcer(db_path: str) -> Callable[[str], None]:
    """Prints the banner once the socket listens; its last line is the one scripts wait for."""
    stored = "in memory, lost at exit" if db_path == ":memory:" else db_path

    def announce(url: str) -> None:
        typer.echo(NOT_PRODUCTION)
        typer.echo(f"State: {stored}. Point workers at it with URL_BLACKBOARD={url}; stop it with Ctrl-C.")
        typer.echo(f"neops_worker local engine (development only) listening on {url}")

    return announce
