"""Typed examples: what a type checker accepts and rejects in a block's declaration.

mypy checks this file and never runs it. Each ``type: ignore`` marks an error that must be reported:
were it not, mypy would report the ignore as unused, so the expectation cannot silently go away.
"""

from __future__ import annotations

from neops_worker import Registration
from neops_worker.engine.wire import FbType, JobType, RunOn

declared = Registration(name="show", package="acme", description="d", run_on="device", fb_type="facts")
run_on: RunOn = declared.run_on
fb_type: FbType = declared.fb_type
job_type: JobType = "rollback"

Registration(name="show", package="acme", description="d", run_on="devise")  # type: ignore[arg-type]
Registration(name="show", package="acme", description="d", fb_type="fact")  # type: ignore[arg-type]
wrong_job_type: JobType = "execution"  # type: ignore[assignment]
