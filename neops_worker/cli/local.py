"""``engine``, ``submit``, ``jobs``, ``workers``: the local development engine and its client."""

from __future__ import annotations

import typer

from neops_worker.devkit.local_client import register as register_local_client


def register(app: typer.Typer) -> None:
    """Add the local engine's commands."""
    register_local_client(app)
