"""``neops_worker health``: probe the health listener (container HEALTHCHECK, Kubernetes probes)."""

from __future__ import annotations

import typer

from neops_worker.worker.observers.health import PROBE_TIMEOUT_S, run_probe


def register(app: typer.Typer) -> None:
    """Add the ``health`` command."""

    def health(
        ready: bool = typer.Option(False, "--ready", help="Probe /readyz (registered, not draining)."),
        url: str | None = typer.Option(
            None,
            "--url",
            metavar="URL",
            help="Listener base URL (default: from HEALTH_HOST and HEALTH_PORT).",
        ),
        timeout: float = typer.Option(
            PROBE_TIMEOUT_S, "--timeout", metavar="SECONDS", help="Seconds to wait for the answer."
        ),
    ) -> None:
        """Probe the health listener: exit 0 if live (or ready, with --ready), else 1, with one line."""
        ok, reason = run_probe(url, ready, timeout)
        typer.echo(reason if ok else f"unhealthy: {reason}")
        raise typer.Exit(0 if ok else 1)

    app.command("health")(health)
