"""Developer commands for function blocks, none of which needs an engine: blocks, check, schema, exec, port.

``neops_worker blocks`` lists the blocks of some directories, ``check`` validates them all (for a
block repository's CI), ``schema`` prints a block's JSON Schemas as sent at registration, and
``exec`` runs one job of a block locally, as the configured worker runs it (in a job process by default), and
``port`` rewrites a vendor-SDK block repository's imports to ours (``_port_command``).
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console

from neops_worker.cli.support import (
    ContextFileOption,
    EntityIdOption,
    JobTypeOption,
    ParamOption,
    ParamsFileOption,
    RunOnOption,
    settings_or_exit,
    usage_errors,
)
from neops_worker.devkit.blocktools._blocks import (
    LoadedBlocks,
    block_summary,
    check_blocks,
    find_block,
    load_blocks,
    skipped_entry,
)
from neops_worker.devkit.blocktools._port_command import register as register_port
from neops_worker.devkit.blocktools._render import (
    blocks_table,
    print_check,
    print_outcome,
    print_problems,
    print_skipped,
)
from neops_worker.devkit.jobinput import SAMPLES, exec_job, parse_param, parse_params
from neops_worker.engine.wire import JobDefinition
from neops_worker.errors import EXIT_FAILURE, EXIT_OK, ConfigurationError
from neops_worker.registry import is_reversible, registration_body
from neops_worker.runtime import run_one_job
from neops_worker.sdk.bridge import sdk_script_warning
from neops_worker.settings import Settings
from neops_worker.worker.outcome import JobOutcome

DirsOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--dir",
        "-d",
        metavar="DIR",
        help="Directory of function blocks (repeatable). Default: DIR_FUNCTION_BLOCKS.",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for machines instead of tables.")]
BlockArgument = Annotated[
    str,
    typer.Argument(
        metavar="BLOCK", help="the block's id 'package/name:1.2.3', 'package/name', or a unique name."
    ),
]


def register(app: typer.Typer) -> None:
    """Add the developer commands to the ``neops_worker`` app."""
    app.command("blocks")(blocks_command)
    app.command("check")(check_command)
    app.command("schema")(schema_command)
    app.command("exec", epilog=EXEC_EXAMPLES)(exec_command)
    register_port(app)


# --- blocks ---------------------------------------------------------------------------------


def blocks_command(directories: DirsOption = None, as_json: JsonOption = False) -> None:
    """List the function blocks found in the block directories."""
    loaded = _load(directories)
    if as_json:
        typer.echo(json.dumps([block_summary(block) for block in loaded.blocks], indent=2))
    else:
        _stdout().print(blocks_table(loaded.blocks))
    print_skipped(_stderr(), loaded)


# --- check ----------------------------------------------------------------------------------


def check_command(directories: DirsOption = None, as_json: JsonOption = False) -> None:
    """Import and validate every block; report every problem with file and line; exit 1 if any.

    Says which blocks are reversible (the engine may roll them back), and why.
    """
    if (warning := sdk_script_warning()) is not None:
        typer.echo(f"neops_worker: warning: {warning}", err=True)
    loaded, problems = check_blocks(_directories(directories))
    if as_json:
        body = {
            "ok": not problems,
            "blocks": [block.fb_id for block in loaded.blocks],
            "reversible": [block.fb_id for block in loaded.blocks if is_reversible(block)],
            "problems": [problem.to_json() for problem in problems],
            "skipped": [skipped_entry(path) for path in loaded.report.skipped],
        }
        typer.echo(json.dumps(body, indent=2))
    else:
        print_check(_stdout(), loaded, problems)
    raise typer.Exit(EXIT_FAILURE if problems else EXIT_OK)


# --- schema ---------------------------------------------------------------------------------

SchemaPart = Literal["both", "parameters", "result"]


def schema_command(
    block: BlockArgument,
    directories: DirsOption = None,
    only: Annotated[
        SchemaPart, typer.Option("--only", help="Print only the parameter or the result schema.")
    ] = "both",
) -> None:
    """Print a block's parameter and result JSON Schemas exactly as sent at registration."""
    loaded = _load(directories)
    with usage_errors():
        found = find_block(loaded, block)
    body = registration_body(found, None).to_wire()
    schemas: dict[str, Any] = {
        "parameterJsonSchema": body["parameterJsonSchema"],
        "resultDataJsonSchema": body["resultDataJsonSchema"],
    }
    if only != "both":
        schemas = schemas["parameterJsonSchema" if only == "parameters" else "resultDataJsonSchema"]
    typer.echo(json.dumps(schemas, indent=2))


# --- exec -----------------------------------------------------------------------------------

TimeoutOption = Annotated[
    float,
    typer.Option("--timeout", min=0, metavar="SECONDS", help="JOB_TIMEOUT in seconds (0: no limit)."),
]
ResultJsonOption = Annotated[
    bool, typer.Option("--json", help="Print the JobResultDto body exactly as the worker pushes it.")
]
LogLevelOption = Annotated[
    str,
    typer.Option(
        "--log-level",
        metavar="LEVEL",
        help="Level of the block's log lines (stderr): DEBUG, INFO, WARNING, ERROR.",
    ),
]
SampleContextOption = Annotated[
    bool,
    typer.Option(
        "--sample-context",
        help=f"Run on a shipped sample context holding one entity of the block's run-on: a device, an "
        f"interface or a group (the files: {SAMPLES}). Not with --context-file.",
    ),
]
EXEC_EXAMPLES = """Examples, with the blocks of function_blocks/:

neops_worker exec echo -p message=hello -p repeat=2
neops_worker exec echo -p message=hello --json
neops_worker exec set_software_release -p software_release=17.9.4a --context-file router.json
neops_worker exec set_software_release --type acquire --context-file router.json
neops_worker exec set_software_release -p software_release=17.9.4a --sample-context

router.json, a job context as on the wire: {"devices": [{"id": 42, "hostname": "r1"}], "interfaces": []}"""


def exec_command(
    block: BlockArgument,
    *,
    param: ParamOption = None,
    params_file: ParamsFileOption = None,
    context_file: ContextFileOption = None,
    sample_context: SampleContextOption = False,
    job_type: JobTypeOption = "execute",
    run_on: RunOnOption = None,
    entity_id: EntityIdOption = None,
    timeout: TimeoutOption = 0,
    directories: DirsOption = None,
    as_json: ResultJsonOption = False,
    log_level: LogLevelOption = "INFO",
) -> None:
    """Run one job of a block locally, exactly as the worker runs it; exit 1 if the result failed."""
    loaded = _load(directories)
    with usage_errors():
        found = find_block(loaded, block)
        job = exec_job(
            found.fb_id,
            parse_params(param or [], params_file),
            context_file,
            sample_context=sample_context,
            job_type=job_type,
            run_on=run_on or found.registration.run_on,
            entity_id=entity_id,
        )
    _setup_logging(log_level)
    outcome = run_one_job(_exec_settings(directories, timeout, log_level), job)
    if outcome.outcome == "rejected":
        with usage_errors():
            raise ConfigurationError(_rejection(outcome, param or []))
    raise typer.Exit(_report_outcome(job, outcome, as_json))


def _rejection(outcome: JobOutcome, pairs: list[str]) -> str:
    """The worker's message for a job it would not start, with a hint for the JSON-parsing trap."""
    message = outcome.result.result.message or "the job was rejected"
    if "valid string" in message and any(not isinstance(parse_param(pair)[1], str) for pair in pairs):
        message += " (--param values are JSON when they parse; quote a string: key='\"17.9\"')"
    return message


def _exec_settings(directories: list[Path] | None, timeout: float, log_level: str) -> Settings:
    """The worker's settings (``JOB_ISOLATION`` included) for these directories and this timeout."""
    overrides = {
        "dir_function_blocks": _directories(directories),
        "job_timeout": timeout,
        "engine_stuck_job_timeout": 0,  # no engine here: --timeout 0 means no limit at all
        "log_level": log_level,
        "skip_broken_modules": True,  # like the listing above: a broken sibling is only a warning
    }
    return settings_or_exit(overrides)


def _report_outcome(job: JobDefinition, outcome: JobOutcome, as_json: bool) -> int:
    """Print the result; the exit code says whether it succeeded."""
    if as_json:
        typer.echo(json.dumps(outcome.result.to_wire(), indent=2))
    else:
        print_outcome(_stdout(), job, outcome)
    return EXIT_OK if outcome.result.result.success else EXIT_FAILURE


# --- shared ---------------------------------------------------------------------------------


def _directories(given: list[Path] | None) -> list[str]:
    """``--dir`` values, else DIR_FUNCTION_BLOCKS from the settings."""
    if given:
        return [str(directory) for directory in given]
    return settings_or_exit().dir_function_blocks


def _load(directories: list[Path] | None) -> LoadedBlocks:
    """Load the block directories; problems are warnings here (``check`` is the command that fails)."""
    loaded = load_blocks(_directories(directories))
    problems = loaded.problems()
    if problems:
        typer.echo(f"neops_worker: warning: {len(problems)} problem(s) loading blocks:", err=True)
        print_problems(_stderr(), problems)
    return loaded


def _setup_logging(level: str) -> None:
    """Show the block's log lines on stderr, unless the host (pytest, an app) configured logging."""
    if logging.getLogger().handlers:
        return
    from neops_worker.observability import setup_logging

    with usage_errors():
        try:
            setup_logging(level.upper())
        except ValueError as exc:
            raise ConfigurationError(f"--log-level: {exc}") from None


def _stdout() -> Console:
    return Console(file=sys.stdout, soft_wrap=False)


def _stderr() -> Console:
    return Console(file=sys.stderr, soft_wrap=False)


__all__ = ["register"]
