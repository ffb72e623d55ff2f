"""What every command module shares: help in words, the one-line usage error (exit 2), the settings.

typer shows each parameter's Python type in the help (``<bool>``, ``<list[str]>``, ``{block}``,
``<float range> [x>=0]``); the commands of ``neops_worker`` (``ReadableCommand``, and the group
itself) show words instead, as man pages do (``SECONDS``, ``DIR``, ``BLOCK``): ``InWords``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from typer import _click as click  # typer's own copy of click: the classes the help is made of
from typer.core import TyperArgument, TyperCommand, TyperOption

from neops_worker.engine.wire import JobType, RunOn
from neops_worker.errors import EXIT_USAGE, ConfigurationError
from neops_worker.settings import Settings, load_settings

# --- help in words --------------------------------------------------------------------------


def option_word(option: TyperOption) -> str:
    """What stands for an option's value: its metavar; else its choices, or its name (click's way)."""
    if option.metavar is not None:
        return option.metavar
    if option.is_flag or option.count:
        return ""
    choices = option.type_descriptor.choices
    if choices:
        return "|".join(str(choice) for choice in choices)
    return (option.name or "value").upper()


def in_words(command: click.Command) -> None:
    """Show ``command``'s parameters in words: see ``InWords``."""
    arguments = []
    for param in command.params:
        if isinstance(param, TyperOption):
            param.metavar = option_word(param)
            # Shown by typer as "[x>=0]"; the value is still checked (by the option's type), and the
            # help text says the range in words where it is not obvious.
            param.min = param.max = None
        elif isinstance(param, TyperArgument) and not param.hidden:
            param.metavar = param.metavar or (param.name or "argument").upper()
            if param.help:
                arguments.append(f"{param.metavar}: {param.help}")
            # typer's panel of arguments shows their Python type (<str>): each is described in the
            # command's help instead, right after its first paragraph.
            param.hidden = True
    if arguments:
        first, _, rest = (command.help or "").partition("\n\n")
        command.help = "\n\n".join(part for part in (first, "\n".join(arguments), rest) if part)


def plain_usage(pieces: list[str]) -> list[str]:
    """The usage line's pieces without typer's braces around a required argument: ``BLOCK``."""
    return [piece[1:-1] if piece.startswith("{") and piece.endswith("}") else piece for piece in pieces]


class InWords(click.Command):
    """Help in words, for a command or a group: ``--timeout SECONDS``, ``BLOCK``; no Python types.

    Options show their ``metavar`` (give one: ``SECONDS``, ``DIR``, ``URL``), else their choices or
    their name in capitals; flags show nothing (``--json``, not ``--json <bool>``). Arguments show
    their name in capitals, in the usage line and below the help. Ranges are not shown as
    ``[x>=0]``: say them in the help text where they are not obvious.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        in_words(self)

    def get_help_option(self, ctx: click.Context) -> TyperOption | None:
        """``--help``, shown without ``<bool>``."""
        option = super().get_help_option(ctx)
        if option is not None:
            option.metavar = ""
        return option

    def collect_usage_pieces(self, ctx: click.Context) -> list[str]:
        """``[OPTIONS] BLOCK``."""
        return plain_usage(super().collect_usage_pieces(ctx))


class ReadableCommand(InWords, TyperCommand):
    """A command of ``neops_worker``: its help in words (``InWords``)."""


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
        metavar="KEY=VALUE",
        help="A parameter key=value (repeatable). The value is JSON when it parses as JSON "
        "(42, 1.5, true, [1], {...}), else a string; quote to force a string: key='\"17.9\"'.",
        show_default=False,
    ),
]
ParamsFileOption = Annotated[
    Path | None,
    typer.Option("--params-file", metavar="FILE", help="JSON object of parameters (--param wins)."),
]
ContextFileOption = Annotated[
    Path | None,
    typer.Option(
        "--context-file",
        metavar="FILE",
        help="Job context JSON as on the wire: devices, deviceGroups, interfaces.",
    ),
]
JobTypeOption = Annotated[JobType, typer.Option("--type", help="The job type.")]
RunOnOption = Annotated[
    RunOn | None,
    typer.Option("--run-on", help="Default: the block's registered run-on."),
]
EntityIdOption = Annotated[
    int | None,
    typer.Option(
        "--entity-id", metavar="ID", help="Target entity. Default: the only one of its kind in the context."
    ),
]
