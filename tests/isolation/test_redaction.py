"""Redaction in process mode: what reaches the job process's output pipe, and a template spawned anew.

The job process scrubs what Python code prints and logs before it leaves; the daemon scrubs the
pipe again, for what other programs write there. A template that died is replaced by a new
interpreter, which inherits nothing from the daemon: LOG_REDACT_EXTRA_KEYS must reach it too.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from tests.integration.conftest import EngineUnderTest
from tests.integration.support import WorkerProcess
from tests.integration.test_redaction import REDACTED, SITE_CODE, assert_told_nothing, start, told


def test_what_a_blocks_command_writes_is_scrubbed_of_extra_key_values(
    engine: EngineUnderTest, start_worker: Any, tmp_path: Path
) -> None:
    """A command the block runs echoes the LOG_REDACT_EXTRA_KEYS value to the pipe: the daemon scrubs it."""
    worker = start(start_worker, engine.url, tmp_path, JOB_ISOLATION="process")
    row = told(engine.url, worker, echo=True)
    assert row["resultStatus"] == "success"
    worker.wait_for_log(f"echoed: site {REDACTED}")
    assert_told_nothing(worker, row)


def _replace_template(worker: WorkerProcess, template: int) -> None:
    """Kill the template; the daemon reaps it (the next job spawns a new one)."""
    os.kill(template, signal.SIGKILL)
    worker.wait_for_log("The template process ended")


def test_a_spawned_template_knows_log_redact_extra_keys(
    engine: EngineUnderTest, start_worker: Any, tmp_path: Path
) -> None:
    """After the template dies, the one spawned in its place scrubs LOG_REDACT_EXTRA_KEYS' values too."""
    worker = start(start_worker, engine.url, tmp_path, JOB_ISOLATION="process")
    forked = told(engine.url, worker)["result"]["result"]["data"]["parent"]
    _replace_template(worker, forked)
    row = told(engine.url, worker, echo=True)
    spawned = row["result"]["result"]["data"]["parent"]
    assert spawned != forked
    assert "Starting a new template process" in worker.log
    assert row["resultMessage"].endswith(f"site {REDACTED}")
    assert SITE_CODE not in worker.log
    assert_told_nothing(worker, row)
