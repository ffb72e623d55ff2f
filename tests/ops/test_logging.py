"""JSON log lines of a real worker run, parsed and checked field by field."""

from __future__ import annotations

import io
import json
import logging
import warnings
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Annotated, Any

import pytest
from pydantic import BaseModel

from neops_worker.blocks.sensitive import Sensitive
from neops_worker.observability import job_log_context, set_worker_identity, setup_logging
from neops_worker.scrub import REDACTED, job_secrets, set_secret_keys
from neops_worker.worker.jobprocess.frames import Message
from neops_worker.worker.jobprocess.logs import ForwardingHandler
from tests.ops.fake_engine import FakeEngine
from tests.ops.harness import CHATTY, ECHO, FAIL, fast_settings, running_worker, wait_until

Lines = Callable[[], list[dict[str, Any]]]
ALWAYS = ("timestamp", "level", "logger", "message", "worker_id", "worker_name")
JOB_FIELDS = ("job_id", "function_block", "job_type")


@pytest.fixture
def json_lines() -> Iterator[Lines]:
    """LOG_FORMAT=json as ``setup_logging`` configures it, into a buffer; yields a reader of the lines."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    setup_logging("DEBUG", "json", worker_name="ops-test")
    [handler] = root.handlers
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    handler.setStream(buffer)

    def read() -> list[dict[str, Any]]:
        return [json.loads(line) for line in buffer.getvalue().splitlines()]

    yield read
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    logging.captureWarnings(False)
    set_worker_identity(None, None)


def test_a_library_warning_is_a_json_line_too(json_lines: Lines) -> None:
    """A warning a library raises (say, a deprecation at import) is logged, not printed as a bare line."""
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn_explicit("DSA is deprecated", DeprecationWarning, "lib/misc.py", 32, module="lib.misc")
    line = one(json_lines(), "lib/misc.py:32: DeprecationWarning: DSA is deprecated")
    assert (line["level"], line["logger"]) == ("WARNING", "py.warnings")


def one(lines: list[dict[str, Any]], message: str) -> dict[str, Any]:
    """The single line whose message starts with ``message``."""
    [line] = [line for line in lines if line["message"].startswith(message)]
    return line


async def run_jobs(engine: FakeEngine) -> dict[str, str]:
    """Run a chatty, an echo and a failing job through a real worker; their ids by block."""
    async with running_worker(fast_settings(), engine) as run:
        jobs = {
            CHATTY: engine.add_job(CHATTY, {"words": "hello"}),
            ECHO: engine.add_job(ECHO, {"message": "hi"}),
            FAIL: engine.add_job(FAIL, {"mode": "result"}),
        }
        await wait_until(lambda: all(j in engine.results for j in jobs.values()), what="three results")
        jobs["worker"] = run.worker.worker_id or ""
    return jobs


async def test_every_line_has_the_fixed_fields(json_lines: Lines) -> None:
    """Each line has timestamp, level, logger, message, worker_id and worker_name, with sane values."""
    await run_jobs(FakeEngine())
    lines = json_lines()
    assert len(lines) > 10
    for line in lines:
        assert list(line)[:6] == list(ALWAYS)
        assert datetime.fromisoformat(line["timestamp"]).utcoffset() is not None
        assert line["level"] in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
        assert line["worker_name"] == "ops-test"
        assert line["logger"]
        assert isinstance(line["message"], str)


async def test_worker_id_is_on_every_line_after_registration(json_lines: Lines) -> None:
    """Before registration worker_id is null; after it every line of every task names the worker."""
    jobs = await run_jobs(FakeEngine())
    lines = json_lines()
    registered = lines.index(one(lines, "Worker registered with id"))
    assert {line["worker_id"] for line in lines[:registered]} == {None}
    assert {line["worker_id"] for line in lines[registered:]} == {jobs["worker"]}


async def test_job_lines_carry_the_job_fields(json_lines: Lines) -> None:
    """Start, finish and the block's own lines name the job; the finish line has duration and outcome."""
    jobs = await run_jobs(FakeEngine())
    lines = json_lines()
    for block, outcome in ((CHATTY, "success"), (ECHO, "success"), (FAIL, "failed")):
        job_id = jobs[block]
        expected = {"job_id": job_id, "function_block": block, "job_type": "execute"}
        started, finished = one(lines, f"Job {job_id} started"), one(lines, f"Job {job_id} finished")
        assert {k: started[k] for k in JOB_FIELDS} == expected
        assert {k: finished[k] for k in JOB_FIELDS} == expected
        assert finished["outcome"] == outcome
        assert isinstance(finished["duration_ms"], float)
        assert finished["duration_ms"] >= 0
    said = one(lines, "Block says hello")
    assert (said["logger"], said["job_id"], said["function_block"]) == (
        "fb.tests.ops.chatty",
        jobs[CHATTY],
        CHATTY,
    )


async def test_lines_outside_jobs_have_no_job_fields(json_lines: Lines) -> None:
    """Lifecycle lines written between jobs carry no job_id."""
    await run_jobs(FakeEngine())
    lines = json_lines()
    for message in (
        "Worker registered with id",
        "Registered ",  # "Registered N function block(s)", however many the examples hold
        "Worker state: idle -> draining",
    ):
        assert "job_id" not in one(lines, message)


def test_secret_extras_are_redacted(json_lines: Lines) -> None:
    """An ``extra`` field named like a secret is masked in the JSON line."""
    logging.getLogger("neops_worker.test").info("connecting", extra={"api_token": "s3cr3t", "device": "r1"})
    [line] = json_lines()
    assert (line["api_token"], line["device"]) == ("**********", "r1")


@pytest.fixture
def extra_keys() -> Iterator[None]:
    """LOG_REDACT_EXTRA_KEYS=enable,Site_Code for the test, as the worker sets it at start."""
    set_secret_keys(["enable", "Site_Code"])
    yield
    set_secret_keys(())


class Login(BaseModel):
    """Parameters logged whole, as a field: the marked pin must not show."""

    user: str
    pin: Annotated[str, Sensitive]


@pytest.mark.usefixtures("extra_keys")
def test_extra_fields_named_in_log_redact_extra_keys_are_masked(json_lines: Lines) -> None:
    """``enable`` and ``siteCode`` (LOG_REDACT_EXTRA_KEYS has Site_Code) are masked; null stays null."""
    logging.getLogger("neops_worker.test").info(
        "connecting", extra={"enable": "en-1", "siteCode": "zrh-1", "enable_old": None, "device": "r1"}
    )
    [line] = json_lines()
    assert (line["enable"], line["siteCode"], line["enable_old"], line["device"]) == (
        REDACTED,
        REDACTED,
        None,
        "r1",
    )


def test_the_worker_and_job_fields_are_never_masked(json_lines: Lines) -> None:
    """LOG_REDACT_EXTRA_KEYS=id,name masks a block's ``device_id``, not the worker's and job's fields."""
    set_worker_identity("w-1", "worker-zrh")
    set_secret_keys(["id", "name"])
    try:
        with job_log_context("job-1", "fb.tests/redact:1.0.0", "execute"):
            logging.getLogger("neops_worker.test").info("connecting", extra={"device_id": 42})
    finally:
        set_secret_keys(())
    [line] = json_lines()
    assert (line["worker_id"], line["worker_name"], line["job_id"]) == ("w-1", "worker-zrh", "job-1")
    assert (line["function_block"], line["device_id"]) == ("fb.tests/redact:1.0.0", REDACTED)


def test_secret_values_in_innocent_extra_fields_are_hidden(json_lines: Lines) -> None:
    """A job's secret inside a field named ``target`` is scrubbed; a model's marked field is masked."""
    with job_secrets({"pw-123"}):
        logging.getLogger("neops_worker.test").info(
            "connecting", extra={"target": "admin:pw-123@r1", "params": Login(user="admin", pin="9876")}
        )
    [line] = json_lines()
    assert line["target"] == f"admin:{REDACTED}@r1"
    assert line["params"] == {"user": "admin", "pin": REDACTED}


@pytest.mark.usefixtures("extra_keys")
def test_a_job_processs_record_leaves_it_without_secrets() -> None:
    """A record a job process forwards has its extra fields masked and scrubbed before it leaves."""
    sent: list[Message] = []
    logger = logging.Logger("fb.tests.forwarded")
    logger.addHandler(ForwardingHandler(sent.append))
    with job_secrets({"9876"}):
        logger.info(
            "pin %s",
            "9876",
            extra={"enable": "en-1", "detail": "pin 9876", "login": Login(user="a", pin="9876")},
        )
    [message] = sent
    assert message["msg"] == f"pin {REDACTED}"
    assert message["extra"]["enable"] == REDACTED
    assert message["extra"]["detail"] == f"pin {REDACTED}"
    assert "9876" not in json.dumps(message)
