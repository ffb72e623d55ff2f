"""The ``neops_worker`` command: thin typer commands that parse, call and render.

``neops_worker`` alone starts the worker, and takes the same options as ``neops_worker run``. Those
options are generated from the settings model, so each setting is defined once (in ``settings``);
a secret (BLACKBOARD_TOKEN) is never one: the process list would show it.
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
from typer.core import TyperCommand, TyperGroup

from neops_worker import __version__
from neops_worker.cli.support import InWords, ReadableCommand, fail_usage, settings_or_exit
from neops_worker.errors import ConfigurationError
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
    "backlog": "neops_worker.cli.backlog",
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
    for info in group.registered_commands:
        if info.cls in (None, TyperCommand):  # typer's default: help in words instead, for every command
            info.cls = ReadableCommand
    return typer.main.get_group(group).commands.get(name)


class LazyCommands(InWords, TyperGroup):
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
        "Without a command it starts the worker, exactly as 'run' does, with settings from the "
        "environment and .env; every option of 'run' works here too (neops_worker --log-level DEBUG): "
        "see 'neops_worker run --help' for each setting."
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


def _version_parameter() -> inspect.Parameter:
    option = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
    )
    return inspect.Parameter("version", inspect.Parameter.KEYWORD_ONLY, default=option, annotation=bool)


def _make_main_callback() -> Callable[..., None]:
    def main_callback(ctx: typer.Context, *, version: bool = False, **options: Any) -> None:
        """Start the worker when no command is given, with the options of ``run``."""
        if ctx.invoked_subcommand is None:
            _run(**options)
        elif given := _given_flags(options):
            raise fail_usage(
                f"{', '.join(given)}: options of the worker go after 'run' or without a command "
                f"(neops_worker {given[0]} ...), not before '{ctx.invoked_subcommand}'"
            )

    context = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)
    parameters = [context, _version_parameter(), *_worker_parameters(hidden=True)]
    main_callback.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    return main_callback


def _given_flags(options: dict[str, Any]) -> list[str]:
    """The run options given on the command line, as their flags."""
    return [_flag(name) for name, value in options.items() if value is not None]


def _worker_settings(overrides: dict[str, Any]) -> Settings:
    """The worker's settings, its block directories checked: one line and exit 2 before anything starts."""
    settings = settings_or_exit(overrides)
    try:
        settings.check_block_directories()
    except ConfigurationError as exc:
        raise fail_usage(f"configuration: {exc}") from None
    return settings


def _start(overrides: dict[str, Any]) -> None:
    from neops_worker.runtime import run_worker

    settings = _worker_settings(overrides)
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

    settings = _worker_settings(overrides)
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


#: What stands for a setting's value where its type does not say it (``option_word`` in the rest).
METAVARS = {
    "url_blackboard": "URL",
    "dir_function_blocks": "DIR[,DIR…]",
    "worker_name": "NAME",
    "worker_ip_address": "ADDRESS",
    "max_memory_per_process": "MiB",
    "version_check_library": "NAME",
    "version_check_version": "VERSION",
    "log_level": "LEVEL",
    "log_redact_extra_keys": "KEY[,KEY…]",
    "health_port": "PORT",
    "health_host": "ADDRESS",
}
#: Shorter flags some settings also answer to.
SHORT_FLAGS = {"worker_slots": ("--slots",)}
#: By type: every number of seconds is a float, every count an int, every path a file.
TYPE_METAVARS: dict[object, str] = {float: "SECONDS", int: "N", Path: "FILE"}


def _base_annotation(field: FieldInfo) -> Any:
    """The setting's type without ``| None``."""
    annotation = field.annotation
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    return args[0] if args and union else annotation


def _is_secret(field: FieldInfo) -> bool:
    """A secret is never an option: the process list shows a command line to every user."""
    return _base_annotation(field) is SecretStr


def _option_type(field: FieldInfo) -> type:
    base = _base_annotation(field)
    if base in (bool, int, float):
        return typing.cast(type, base)
    return str


def _metavar(name: str, field: FieldInfo) -> str | None:
    """``SECONDS``, ``N``, ``FILE``, ``process|thread`` or ``METAVARS``' word (None: a flag, or the name)."""
    base = _base_annotation(field)
    if name in METAVARS:
        return METAVARS[name]
    if typing.get_origin(base) is typing.Literal:
        return "|".join(str(choice) for choice in typing.get_args(base))
    return TYPE_METAVARS.get(base)


def _default_text(field: FieldInfo) -> str:
    default = field.default
    if default is None:
        return " (default: unset"
    if isinstance(default, list):
        default = ",".join(default) or "none"
    return f" (default: {default}"


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _setting_parameter(name: str, field: FieldInfo, hidden: bool) -> inspect.Parameter:
    """The option of one setting: ``--poll-interval SECONDS``, ``--skip-broken-modules/--no-...``."""
    kind = _option_type(field)
    flag = _flag(name)
    decls = [f"{flag}/--no-{flag[2:]}"] if kind is bool else [flag, *SHORT_FLAGS.get(name, ())]
    help_text = f"{field.description or ''}{_default_text(field)}; env {env_name(name)})"
    option = typer.Option(
        None, *decls, metavar=_metavar(name, field), help=help_text, show_default=False, hidden=hidden
    )
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=kind | None)


RELOAD_HELP = (
    "For block authors: run the worker as a child process and restart it when a file under "
    "DIR_FUNCTION_BLOCKS changes (it finishes the job in hand first)."
)


def _worker_parameters(hidden: bool = False) -> list[inspect.Parameter]:
    """``--reload`` and one option per setting but the secrets, for ``run`` and (hidden) the bare command."""
    reload = typer.Option(None, "--reload", help=RELOAD_HELP, show_default=False, hidden=hidden)
    return [
        inspect.Parameter("reload", inspect.Parameter.KEYWORD_ONLY, default=reload, annotation=bool | None),
        *(
            _setting_parameter(name, field, hidden)
            for name, field in Settings.model_fields.items()
            if not _is_secret(field)
        ),
    ]


def _run(*, reload: bool | None = None, **overrides: Any) -> None:
    if reload:
        _start_reloading(overrides)
    _start(overrides)


def _make_run() -> Callable[..., None]:
    def run(**options: Any) -> None:
        _run(**options)

    run.__signature__ = inspect.Signature(_worker_parameters())  # type: ignore[attr-defined]
    return run


RUN_HELP = (
    "Start the worker. Options override the environment and .env; unset options leave them alone.\n\n"
    "The engine's bearer token is no option (the process list would show it): set BLACKBOARD_TOKEN in "
    "the environment or .env, or name a file holding it with BLACKBOARD_TOKEN_FILE "
    "(--blackboard-token-file)."
)
app.callback()(_make_main_callback())
app.command("run", cls=ReadableCommand, help=RUN_HELP)(_make_run())


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


__all__ = ["Path", "app", "fail_usage", "main", "settings_or_exit"]
