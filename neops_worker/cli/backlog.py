"""``neops_worker backlog``: the engine's job backlog as Prometheus series (one exporter per cluster)."""

from __future__ import annotations

from typing import Annotated

import typer

from neops_worker.cli.support import settings_or_exit, usage_errors

BACKLOG_HELP = (
    "Serve the engine's job backlog on /metrics, for dashboards and autoscaling: run one per cluster.\n\n"
    "Every --interval seconds it reads the engine's job listing at URL_BLACKBOARD (GET "
    "/blackboard/jobs/page from engine 0.43.0-beta.8 on, GET /blackboard/jobs?status= before), with the "
    "bearer token of BLACKBOARD_TOKEN or BLACKBOARD_TOKEN_FILE and the CA of BLACKBOARD_CA_BUNDLE, and "
    "serves neops_worker_backlog_jobs (function_block, state: pending or claimed), "
    "neops_worker_backlog_oldest_pending_seconds (function_block) and neops_worker_backlog_up. While the "
    "engine does not answer, backlog_up is 0 and the other series keep their last values. SIGTERM or "
    "SIGINT stops it (exit 0)."
)
BACKLOG_EXAMPLES = """Examples:

neops_worker backlog                            # on 0.0.0.0:9465, a read every 15 s
neops_worker backlog --port 9100 --interval 30
neops_worker backlog --once                     # one read; the series on stdout

The pending jobs of the blocks a deployment serves, in PromQL (a KEDA Prometheus trigger's query):

sum(neops_worker_backlog_jobs{state="pending", function_block=~"fb.acme.config/.*"})"""

HostOption = Annotated[
    str,
    typer.Option(
        "--host",
        metavar="ADDRESS",
        help="Address to listen on. 0.0.0.0 (the default) serves other pods, as a Prometheus in the "
        "cluster needs; the series hold job counts only. 127.0.0.1: this host only; :: for IPv6.",
    ),
]
PortOption = Annotated[
    int, typer.Option("--port", metavar="PORT", min=0, max=65535, help="Port of /metrics (0: a free one).")
]
IntervalOption = Annotated[
    float,
    typer.Option(
        "--interval",
        metavar="SECONDS",
        min=0.05,
        help="Seconds between two reads of the listing (at least 0.05); each read is one to a few "
        "requests per state.",
    ),
]
UrlOption = Annotated[
    str | None,
    typer.Option("--url-blackboard", metavar="URL", help="The engine's base URL (default: URL_BLACKBOARD)."),
]
OnceOption = Annotated[
    bool,
    typer.Option(
        "--once", help="Read once, print the series to stdout and exit: 0 if the read succeeded, 1 if not."
    ),
]


def register(app: typer.Typer) -> None:
    """Add the ``backlog`` command."""
    app.command("backlog", help=BACKLOG_HELP, epilog=BACKLOG_EXAMPLES)(backlog)


def backlog(
    host: HostOption = "0.0.0.0",  # noqa: S104 - see the option's help: a pod is scraped from others
    port: PortOption = 9465,
    interval: IntervalOption = 15.0,
    url_blackboard: UrlOption = None,
    once: OnceOption = False,
) -> None:
    """Serve the engine's job backlog on /metrics."""
    from neops_worker.backlog import ExporterOptions, read_once, run_exporter
    from neops_worker.observability import setup_logging

    settings = settings_or_exit({"url_blackboard": url_blackboard})
    setup_logging(settings.log_level, settings.log_format)
    if once:
        ok, text = read_once(settings)
        typer.echo(text.decode(), nl=False)
        raise typer.Exit(0 if ok else 1)
    with usage_errors():
        code = run_exporter(settings, ExporterOptions(host, port, interval))
    raise typer.Exit(code)
