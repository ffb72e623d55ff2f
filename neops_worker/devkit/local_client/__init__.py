"""Operator commands for the local engine: ``engine`` serves it, ``submit``, ``jobs`` and ``workers`` use it.

The local engine is a development stand-in, **not the production engine**. ``engine`` runs it in the
foreground; the other commands talk to a running one over HTTP through its ``/_dev/`` endpoints
(``--url``, default URL_BLACKBOARD), all through one small client (:mod:`._client`). Exit codes: 0 done,
1 the engine could not be reached or answered an error (or, with ``submit --wait``, the job failed),
2 bad input.
"""

from __future__ import annotations

import typer

from neops_worker.devkit.local_client._commands import jobs_command, submit_command, workers_command
from neops_worker.devkit.local_client._engine import engine_command

#: The end of ``submit --help``: commands that work on the bundled blocks.
SUBMIT_EXAMPLES = """Examples, with `neops_worker engine` and a worker on function_blocks/ running:

neops_worker submit echo -p message=hello --wait

neops_worker submit echo -p message=hello -p repeat=3 --wait --json

neops_worker submit set_software_release -p software_release=17.9.4a --context-file router.json --wait

neops_worker submit fail -p mode=raise --wait

neops_worker submit --rollback-of JOB --wait

router.json is a job context as on the wire: {"devices": [{"id": 42, "hostname": "r1"}], "interfaces": []}
"""


def register(app: typer.Typer) -> None:
    """Add ``engine``, ``submit``, ``jobs`` and ``workers`` to the ``neops_worker`` app."""
    app.command("engine")(engine_command)
    app.command("submit", epilog=SUBMIT_EXAMPLES)(submit_command)
    app.command("jobs")(jobs_command)
    app.command("workers")(workers_command)


__all__ = ["register"]
