"""``neops_worker port``: rewrite a block repository's vendor-SDK imports to ``neops_worker``'s.

The rewriting itself is in ``_port`` (it imports libcst, so it is loaded only when the command runs).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from neops_worker.errors import EXIT_FAILURE, EXIT_OK, EXIT_USAGE

if TYPE_CHECKING:
    from neops_worker.devkit.blocktools._port import PortedFile

PORT_HELP = (
    "Rewrite the vendor SDK's imports in .py files to their neops_worker equivalents.\n\n"
    "Imports from neops_worker_sdk and from the engine client (neops_workflow_engine_client) are "
    "rewritten to neops_worker.sdk, whose modules mirror the SDK's with the same names, so a block "
    "ports by its import lines alone. Formatting and comments stay as they are. Directories are "
    "searched for .py files, tests included (dot-directories are skipped).\n\n"
    "Without --write the changes are printed as a unified diff and no file is touched.\n\n"
    "Imports of the SDK's connection layer (neops_worker_sdk.connection...) are left as they are "
    "and listed: they need the SDK installed beside neops_worker (see docs/sdk-side-by-side.md). "
    "Every name with no equivalent is reported as FILE:LINE and stays imported from the SDK, in an "
    "import of its own.\n\n"
    "Exit status: 0 when nothing is left to do by hand; 1 when something is (a name with no "
    "equivalent, a file that does not parse); 2 for a path that does not exist."
)

PathsArgument = Annotated[
    list[Path], typer.Argument(help="Files or directories to port.", metavar="PATH...", show_default=False)
]
WriteOption = Annotated[
    bool, typer.Option("--write", help="Write the rewritten files instead of printing a diff.")
]


def port_command(paths: PathsArgument, write: WriteOption = False) -> None:
    """Rewrite the vendor SDK's imports to neops_worker's: a diff, or --write to apply it."""
    missing = [path for path in paths if not path.exists()]
    if missing:
        typer.echo(
            f"neops_worker: error: no such file or directory: {', '.join(map(str, missing))}", err=True
        )
        raise typer.Exit(EXIT_USAGE)
    from neops_worker.devkit.blocktools._port import port_file, python_files

    ported = [port_file(path) for path in python_files(paths)]
    for result in ported:
        if result.changed and write:
            result.path.write_text(result.after, encoding="utf-8")
        elif result.changed:
            typer.echo(result.diff(), nl=False)
    raise typer.Exit(_report(ported, write))


def _report(ported: list[PortedFile], written: bool) -> int:
    """Every note on stderr, then a summary; the exit status says whether work is left by hand."""
    notes = [note for result in ported for note in result.notes]
    for note in sorted(notes, key=lambda n: (n.by_hand, str(n.path), n.line)):
        typer.echo(str(note), err=True)
    changed = sum(result.changed for result in ported)
    by_hand = sum(note.by_hand for note in notes)
    kept = len(notes) - by_hand
    verb = "rewritten" if written else "to rewrite (--write applies it)"
    typer.echo(
        f"port: {changed} of {len(ported)} file(s) {verb}; {by_hand} thing(s) to port by hand; "
        f"{kept} connection-layer import(s) kept for the SDK",
        err=True,
    )
    return EXIT_FAILURE if by_hand else EXIT_OK


def register(app: typer.Typer) -> None:
    """Add ``port`` to the ``neops_worker`` app."""
    app.command("port", help=PORT_HELP, short_help="Rewrite vendor-SDK imports to neops_worker's.")(
        port_command
    )


__all__ = ["PORT_HELP", "port_command", "register"]
