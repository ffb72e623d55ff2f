"""Redaction knobs through the real daemon, in both isolation modes, against the local engine.

A block says its secrets everywhere a block can: in log lines, in a log field under an innocent
name, in what it prints on stdout and stderr, in its result message and in an exception. Its
``pin`` is marked with the SDK's ``SENSITIVE`` (as ``port`` leaves it), its ``psk`` with the native
``Sensitive``, and its ``site_code`` is named in LOG_REDACT_EXTRA_KEYS: none of the three names
looks like a secret, and no value may reach the worker's output or what the engine stores.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import EngineUnderTest
from tests.integration.support import WorkerProcess, add_job, job, wait_until

FB_ID = "fb.tests.redaction/tells:1.0.0"
REDACTED = "**********"
#: The values the block is given: each long and distinct enough to be found anywhere it leaks.
PIN, PSK, SITE_CODE = "4711-pin-98", "psk-native-5150", "zrh-site-2207"

BLOCK_SOURCE = '''
"""Tells its secrets everywhere a block can."""

import logging
import os
import subprocess
import sys
from typing import Annotated

from neops_worker import (
    FunctionBlock,
    FunctionBlockParams,
    FunctionBlockResult,
    FunctionBlockResultData,
    Registration,
    WorkflowContext,
    register_function_block,
)
from neops_worker.blocks.sensitive import Sensitive
from neops_worker.sdk.logger.redaction import SENSITIVE

log = logging.getLogger("fb.tests.redaction")


class Params(FunctionBlockParams):
    """Three secrets whose names say nothing of it."""

    pin: Annotated[str, SENSITIVE]
    psk: Annotated[str, Sensitive] = ""
    site_code: str = ""
    fail: bool = False
    echo: bool = False


class Told(FunctionBlockResultData):
    """How long the pin was, and the process that forked this one."""

    pin_length: int = 0
    parent: int = 0
    said: str = ""


@register_function_block(Registration(name="tells", package="fb.tests.redaction", description="tells"))
class Tells(FunctionBlock[Params, Told]):
    """Logs, prints and returns its secrets; raises them, or has a command echo them, on request."""

    def run(self, params: Params, context: WorkflowContext) -> FunctionBlockResult[Told]:
        """Tell them."""
        said = f"pin {params.pin} psk {params.psk} site {params.site_code}"
        log.info("Logging in: %s", said)
        log.info("Login detail", extra={"detail": said, "site_code": params.site_code})
        print(f"printed: {said}")
        print(f"printed on stderr: {said}", file=sys.stderr)
        if params.echo:  # written by another program, straight to this process's output
            subprocess.run(["echo", f"echoed: site {params.site_code}"], check=True)
        if params.fail:
            raise ConnectionError(f"refused: {said}")
        data = Told(pin_length=len(params.pin), parent=os.getppid(), said=said)
        return FunctionBlockResult(success=True, message=said, data=data)
'''


def write_block(directory: Path) -> Path:
    """The block above as a module of its own in ``directory/blocks``; that directory."""
    blocks = directory / "blocks"
    blocks.mkdir(exist_ok=True)
    (blocks / "tells.py").write_text(BLOCK_SOURCE, encoding="utf-8")
    return blocks


def start(start_worker: Any, url: str, directory: Path, **settings: Any) -> WorkerProcess:
    """A worker on the block, with LOG_REDACT_EXTRA_KEYS naming ``site_code``, JSON lines, registered."""
    worker: WorkerProcess = start_worker(
        url,
        DIR_FUNCTION_BLOCKS=str(write_block(directory)),
        LOG_REDACT_EXTRA_KEYS="Site_Code",
        LOG_FORMAT="json",
        **settings,
    )
    worker.wait_for_log("Worker state: registered -> idle")
    return worker


def told(url: str, worker: WorkerProcess, **parameters: Any) -> dict[str, Any]:
    """Run the block once with the three secrets; the job as the engine stores it."""
    job_id = add_job(url, FB_ID, pin=PIN, psk=PSK, site_code=SITE_CODE, **parameters)
    wait_until(lambda: job(url, job_id)["status"] == "pushed", 20, f"the result of {job_id}", worker)
    worker.wait_for_log(f"Job {job_id} finished")
    return job(url, job_id)


def assert_told_nothing(worker: WorkerProcess, *rows: dict[str, Any]) -> None:
    """No secret in any line the worker wrote, nor in the stored results and messages."""
    stored = json.dumps([(row["resultMessage"], row["result"], row["logs"]) for row in rows])
    for secret in (PIN, PSK, SITE_CODE):
        assert secret not in worker.log
        assert secret not in stored
    assert all(json.loads(line) for line in worker.output if line.startswith("{"))


@pytest.mark.parametrize("isolation", ["process", "thread"])
def test_marked_and_extra_key_values_reach_no_log_line_and_no_result(
    engine: EngineUnderTest, start_worker: Any, tmp_path: Path, isolation: str
) -> None:
    """Logged, printed, returned, raised: the SENSITIVE pin, the Sensitive psk, the extra key's value."""
    url = engine.url
    worker = start(start_worker, url, tmp_path, JOB_ISOLATION=isolation)
    hidden = f"pin {REDACTED} psk {REDACTED} site {REDACTED}"
    ok, failed = told(url, worker), told(url, worker, fail=True)
    assert (ok["resultStatus"], ok["resultMessage"]) == ("success", hidden)
    assert ok["result"]["result"]["data"]["pin_length"] == len(PIN)
    assert failed["resultMessage"] == f"ConnectionError: refused: {hidden}"
    for said in ("Logging in: ", "printed: ", "printed on stderr: "):
        worker.wait_for_log(f"{said}{hidden}")
    details = [json.loads(line) for line in worker.output if '"Login detail"' in line]
    assert [(line["detail"], line["site_code"]) for line in details] == [(hidden, REDACTED)] * 2
    assert_told_nothing(worker, ok, failed)
