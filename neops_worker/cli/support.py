"""What every command module shares: the one-line usage error (exit 2) and loading the settings."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from neops_worker.engine.wire import JobType, RunOn
from neops_worker.errors import EXIT_USAGE, ConfigurationError
from neops_worker.settings import Settings, load_settings


def fail_usage(message: str) -> typer.Exit:
    """Print one ``error:`` line and return the exit for bad input (code 2)."""
    typer.echo(f"neops_worker: error: {message}", err=True)
    return typer.Exit(EXIT_USAGE)


@contextlib.contextmanager
def usage_errors(*errors: type[Exception]) -> Iterator[None]:
    """Turn a ``ConfigurationError`` (and any of ``errors``) into the one-line error and exit 2."""
    caught: tuple[type[Exception], ...] = (ConfigurationError, *errors)
    try:
        yield
    except caught as exc:
        raise fail_usage(str(exc)) from None


def settings_or_exit(overrides: dict[str, Any] | None = None) -> Settings:
    """Load the settings, or exit 2 with one line naming the bad variable."""
    try:
        return load_settings(overrides)
    except ConfigurationError as exc:
        raise fail_usage(f"configuration: {exc}") from None


# --- the job-input options `exec` and `submit` share ---------------------------------------

ParamOption = Annotated[
    list[str] | None,
    typer.Option(
        "--param",
        "-p",
        help="A parameter key=value (repeatable). The value is JSON when it parses as JSON "
        "(42, 1.5, true, [1], {...}), else a string; quote to force a string: key='\"17.9\"'.",
        show_default=False,
    ),
]
ParamsFileOption = Annotated[
    Path | None, typer.Option("--params-file", help="JSON object of parameters (--param wins).")
]
ContextFileOption = Annotated[
    Path | None,
    typer.Option(
        "--context-file", help="Job context JSON as on the wire: devices, deviceGroups, interfaces."
    ),
]
JobTypeOption = Annotated[JobType, typer.Option("--type", help="The job type.")]
RunOnOption = Annotated[
    RunOn | None,
    typer.Option("--run-on", help="Default: the block's registered run-on."),
]
EntityIdOption = Annotated[
    int | None,
    typer.Option("--entity-id", help="Target entity. Default: the only one of its kind in the context."),
]
