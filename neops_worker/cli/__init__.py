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
import typer.main
from pydantic import SecretStr
from pydantic.fields import FieldInfo
from typer import _click as click  # typer's own copy of click: the group API extended below
from typer.core import TyperGroup

from neops_worker import __version__
from neops_worker.cli.support import fail_usage, settings_or_exit
from neops_worker.settings import Settings, env_name

# --- other command groups: imported only when one of their commands runs ----------------------

#: command -> the module whose ``register(app: typer.Typer) -> None`` defines it. ``run`` (the
#: daemon) imports none of them: no development kit (local engine, demo, block tools) in a worker.
LAZY_COMMANDS: dict[str, str] = {
    "blocks": "neops_worker.cli.blocks",
    "check": "neops_worker.cli.blocks",
    "schema": "neops_worker.cli.blocks",
    "exec": "neops_worker.cli.blocks",
    "port": "neops_worker.cli.blocks",
    "health": "neops_worker.cli.health",
    "engine": "neops_worker.cli.local",
    "submit": "neops_worker.cli.local",
    "jobs": "neops_worker.cli.local",
    "workers": "neops_worker.cli.local",
    "demo": "neops_worker.cli.demo",
}


def load_command(name: str) -> click.Command | None:
    """The click command ``name`` of its module, imported now."""
    from importlib import import_module

    group = typer.Typer(rich_markup_mode="rich", pretty_exceptions_enable=False)
    import_module(LAZY_COMMANDS[name]).register(group)
    return typer.main.get_group(group).commands.get(name)


class LazyCommands(TyperGroup):
    """A command group that imports a command's module when the command is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """``run`` first, then the others in the table's order (``--help`` imports them all)."""
        return [*super().list_commands(ctx), *(n for n in LAZY_COMMANDS if n not in self.commands)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command, loading its module on first use."""
        if cmd_name not in self.commands and cmd_name in LAZY_COMMANDS:
            command = load_command(cmd_name)
            if command is not None:
                self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)


app = typer.Typer(
    name="neops_worker",
    cls=LazyCommands,
    help=(
        "Worker daemon of the neops 2.0 workflow engine. Loads function blocks from DIR_FUNCTION_BLOCKS, "
        "registers them with the engine at URL_BLACKBOARD, and runs the jobs it claims, one at a time.\n\n"
        "Without a command it starts the worker with settings from the environment and .env "
        "(see 'neops_worker run --help' for every setting)."
    ),
    epilog=(
        "Exit codes of the worker: 0 stopped; 1 failed (engine unreachable at start, a block refused, "
        "drain cut short: a restart may help); 2 configuration error; 3 refused by the engine's "
        "licence (a restart meets the same refusal)."
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
    from neops_worker.sdk.bridge import sdk_script_warning

    warning = sdk_script_warning()
    if warning is not None:
        from neops_worker.observability import setup_logging

        setup_logging(settings.log_level, settings.log_format, settings.worker_name)
        logging.getLogger("neops_worker").warning("%s", warning)


def _start_reloading(overrides: dict[str, Any]) -> None:
    """Supervise the worker as a child process, restarted when a block file changes."""
    from neops_worker.devkit.reloader import run_reloader
    from neops_worker.observability import setup_logging

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


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


__all__ = ["Path", "app", "fail_usage", "main", "settings_or_exit"]
