"""``neops_worker demo``: engine, worker and sample jobs in one command."""

from __future__ import annotations

import typer

from neops_worker.devkit.demo import register as register_demo


def register(app: typer.Typer) -> None:
    """Add the ``demo`` command."""
    register_demo(app)
