"""JSON log lines of a real worker run, parsed and checked field by field."""

from __future__ import annotations

import io
import json
import logging
import warnings
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest

from neops_worker.observability import set_worker_identity, setup_logging
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
