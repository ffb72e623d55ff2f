"""``python -m neops_worker.devkit.local_engine``: serve the local engine (development only, not production).

Prints ``... listening on http://HOST:PORT`` on stdout once the socket listens (``--port 0`` picks a
free port), logs to stderr, and exits 0 after SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from neops_worker.devkit.local_engine._deps import EngineDependencyError, require_engine_deps
from neops_worker.devkit.local_engine.options import (
    CONTRACTS,
    OPTION_HELP,
    EngineOptions,
    OptionError,
    default_db_path,
    parse_size,
)


def build_parser() -> argparse.ArgumentParser:
    """The command-line options."""
    defaults = EngineOptions()
    parser = argparse.ArgumentParser(
        prog="python -m neops_worker.devkit.local_engine",
        description="Local stand-in for the neops blackboard, for development and tests. "
        "Not the production engine.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    parser.add_argument(
        "--port", type=int, default=3030, help="port to bind, 0 for a free one (default: %(default)s)"
    )
    parser.add_argument(
        "--db", default=str(default_db_path()), help="SQLite file, or :memory: (default: %(default)s)"
    )
    _add_heartbeat_options(parser, defaults)
    _add_contract_options(parser, defaults)
    parser.add_argument(
        "--incompatible", action="store_true", help="answer compatible: false to version checks"
    )
    parser.add_argument("--deprecated", action="store_true", help="answer deprecated: true to version checks")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return parser


def _add_heartbeat_options(parser: argparse.ArgumentParser, defaults: EngineOptions) -> None:
    """How the engine watches workers' heartbeats."""
    parser.add_argument(
        "--heartbeat-interval",
        type=float,
        default=defaults.heartbeat_interval_s,
        help="seconds (default: %(default)s)",
    )
    parser.add_argument(
        "--unreachable-after",
        type=float,
        default=defaults.unreachable_after,
        help="missed intervals until a worker is unreachable (default: %(default)s)",
    )
    parser.add_argument(
        "--offline-after",
        type=float,
        default=defaults.offline_after,
        help="missed intervals until a worker expires and its job is re-queued (default: %(default)s)",
    )
    parser.add_argument("--sweep-interval", type=float, default=None, help="seconds between worker sweeps")


def _add_contract_options(parser: argparse.ArgumentParser, defaults: EngineOptions) -> None:
    """The contract spoken, its retries, limits and timers (help shared with ``neops_worker engine``)."""
    parser.add_argument(
        "--contract", choices=CONTRACTS, default=defaults.contract, help=OPTION_HELP["contract"]
    )
    parser.add_argument("--engine-version", default=None, help=OPTION_HELP["engine_version"])
    parser.add_argument(
        "--max-retries", type=int, default=defaults.max_retries, help=OPTION_HELP["max_retries"]
    )
    parser.add_argument("--max-workers", type=int, default=None, help=OPTION_HELP["max_workers"])
    parser.add_argument(
        "--max-function-blocks", type=int, default=None, help=OPTION_HELP["max_function_blocks"]
    )
    parser.add_argument(
        "--max-body-size", type=parse_size, default=defaults.max_body_size, help=OPTION_HELP["max_body_size"]
    )
    parser.add_argument(
        "--stuck-job-timeout",
        type=float,
        default=defaults.stuck_job_timeout_s,
        help=OPTION_HELP["stuck_job_timeout"],
    )


def options_from(args: argparse.Namespace) -> EngineOptions:
    """The engine options the parsed arguments ask for."""
    return EngineOptions(
        heartbeat_interval_s=args.heartbeat_interval,
        unreachable_after=args.unreachable_after,
        offline_after=args.offline_after,
        sweep_interval_s=args.sweep_interval,
        contract=args.contract,
        engine_version=args.engine_version,
        compatible=not args.incompatible,
        deprecated=args.deprecated,
        max_retries=args.max_retries,
        max_workers=args.max_workers,
        max_function_blocks=args.max_function_blocks,
        max_body_size=args.max_body_size,
        stuck_job_timeout_s=args.stuck_job_timeout,
    )


def announce(url: str) -> None:
    """Print the ready line that ``local_engine.process.EngineProcess`` waits for."""
    print(f"neops_worker local engine (development only) listening on {url}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the arguments and serve until SIGINT or SIGTERM; the exit code."""
    args = build_parser().parse_args(argv)
    try:
        options = options_from(args)
        require_engine_deps()
    except (ValueError, EngineDependencyError) as exc:
        message = exc.for_command_line() if isinstance(exc, OptionError) else str(exc)
        print(f"error: {message}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from neops_worker.devkit.local_engine.server import serve  # needs the engine group: checked above

    serve(args.host, args.port, args.db, options=options, log_level=args.log_level, on_ready=announce)
    return 0


if __name__ == "__main__":
    sys.exit(main())
