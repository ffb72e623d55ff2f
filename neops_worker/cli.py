"""The ``neops_worker`` command: thin typer commands that parse, call and render.

``neops_worker`` alone starts the worker; ``neops_worker run`` is the same with options. The run
options are generated from the settings model, so each setting is defined once (in ``settings``).
"""

from __future__ import annotations

import inspect
import logging
import os
import sys
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from pydantic import SecretStr
from pydantic.fields import FieldInfo

from neops_worker import __version__
from neops_worker.cli_support import fail_usage, settings_or_exit
from neops_worker.settings import Settings, env_name

app = typer.Typer(
    name="neops_worker",
    help=(
        "Worker daemon of the neops 2.0 workflow engine. Loads function blocks from DIR_FUNCTION_BLOCKS, "
        "registers them with the engine at URL_BLACKBOARD, and runs the jobs it claims, one at a time.\n\n"
        "Without a command it starts the worker with settings from the environment and .env "
        "(see 'neops_worker run --help' for every setting)."
    ),
    add_completion=False,
    invoke_without_command=True,
    no_args_is_help=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"neops_worker {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    ctx: typer.Context,
    version: typing.Annotated[
        bool,
        typer.Option(
            "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Start the worker when no command is given."""
    if ctx.invoked_subcommand is None:
        _start({})


def _start(overrides: dict[str, Any]) -> None:
    from neops_worker.runtime import run_worker

    settings = settings_or_exit(overrides)
    _warn_if_sdk_script(settings)
    raise typer.Exit(run_worker(settings))


def _warn_if_sdk_script(settings: Settings) -> None:
    """At start, say so when the ``neops_worker`` on PATH is the vendor SDK's (so not this daemon)."""
    from neops_worker.sdk_bridge import sdk_script_warning

    warning = sdk_script_warning()
    if warning is not None:
        from neops_worker.observability import setup_logging

        setup_logging(settings.log_level, settings.log_format, settings.worker_name)
        logging.getLogger("neops_worker").warning("%s", warning)


def _start_reloading(overrides: dict[str, Any]) -> None:
    """Supervise the worker as a child process, restarted when a block file changes."""
    from neops_worker.observability import setup_logging
    from neops_worker.reloader import run_reloader

    settings = settings_or_exit(overrides)
    setup_logging(settings.log_level, settings.log_format, settings.worker_name)
    env = {**os.environ, **_as_environment(overrides)}
    raise typer.Exit(run_reloader(["run"], env, settings.dir_function_blocks))


def _as_environment(overrides: dict[str, Any]) -> dict[str, str]:
    """The options of ``run`` that were given, as the environment variables a worker child reads."""
    return {
        env_name(name): (str(value).lower() if isinstance(value, bool) else str(value))
        for name, value in overrides.items()
        if value is not None
    }


# --- `run`: one option per setting, generated from the settings model ---------------------------


def _option_type(field: FieldInfo) -> type:
    annotation = field.annotation
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    base = (
        args[0] if args and typing.get_origin(annotation) in (typing.Union, types.UnionType) else annotation
    )
    if base in (bool, int, float):
        return typing.cast(type, base)
    return str


def _default_text(name: str, field: FieldInfo) -> str:
    if field.annotation is not None and SecretStr in typing.get_args(field.annotation):
        return " (default: unset"
    default = field.default
    if default is None:
        return " (default: unset"
    if isinstance(default, list):
        default = ",".join(default)
    return f" (default: {default}"


def _run_parameters() -> list[inspect.Parameter]:
    params = []
    for name, field in Settings.model_fields.items():
        kind = _option_type(field)
        flag = "--" + name.replace("_", "-")
        decls = [f"{flag}/--no-{flag[2:]}"] if kind is bool else [flag]
        help_text = f"{field.description or ''}{_default_text(name, field)}; env {env_name(name)})"
        option = typer.Option(None, *decls, help=help_text, show_default=False)
        params.append(
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=kind | None)
        )
    return params


RELOAD_HELP = (
    "For block authors: run the worker as a child process and restart it when a file under "
    "DIR_FUNCTION_BLOCKS changes (it finishes the job in hand first)."
)


def _reload_parameter() -> inspect.Parameter:
    option = typer.Option(False, "--reload", help=RELOAD_HELP, show_default=False)
    return inspect.Parameter("reload", inspect.Parameter.KEYWORD_ONLY, default=option, annotation=bool)


def _make_run() -> Callable[..., None]:
    def run(*, reload: bool = False, **overrides: Any) -> None:
        """Start the worker. Options override the environment and .env; unset options leave them alone."""
        if reload:
            _start_reloading(overrides)
        _start(overrides)

    parameters = [_reload_parameter(), *_run_parameters()]
    run.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    return run


app.command("run", help=_make_run().__doc__)(_make_run())


# --- other command groups register themselves here ---------------------------------------------


def _register_command_modules() -> None:
    """Commands owned by other modules (blocks tooling, local engine, health probe)."""
    from importlib import import_module

    for module_name in COMMAND_MODULES:
        module = import_module(module_name)
        module.register(app)


#: Modules exposing ``register(app: typer.Typer) -> None``.
COMMAND_MODULES: list[str] = [
    "neops_worker.devtools",
    "neops_worker.health",
    "neops_worker.operator",
    "neops_worker.demo",
]

_register_command_modules()


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


__all__ = ["Path", "app", "fail_usage", "main", "settings_or_exit"]
