"""``trace_id`` and ``span_id`` on every log line of a job, JSON and console, with tracing on (only then)."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from opentelemetry import trace

from neops_worker.observability import set_worker_identity, setup_logging
from tests.tracing.conftest import Spans
from tests.tracing.support import job_span, run_jobs, settings

Read = Callable[[], str]


@pytest.fixture(params=["json", "console"])
def log_text(request: pytest.FixtureRequest) -> Iterator[tuple[str, Read]]:
    """LOG_FORMAT as ``setup_logging`` configures it, into a buffer: the format and a reader of the text."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    setup_logging("DEBUG", request.param, worker_name="trace-test")
    [handler] = root.handlers
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    handler.setStream(buffer)
    yield request.param, buffer.getvalue
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    logging.captureWarnings(False)
    set_worker_identity(None, None)


def fields_of(log_format: str, text: str, message: str) -> dict[str, Any]:
    """The fields of the one line whose message starts with ``message``, in either format."""
    if log_format == "json":
        [line] = [
            line for line in map(json.loads, text.splitlines()) if str(line["message"]).startswith(message)
        ]
        return dict(line)
    [found] = [line for line in text.splitlines() if f": {message}" in line]
    return dict(re.findall(r"(\w+)=(\S+?)[\] ]", found))


def ids(span: Any) -> dict[str, str]:
    """A span's trace and span id as a log line writes them."""
    context = span.get_span_context()
    return {
        "trace_id": trace.format_trace_id(context.trace_id),
        "span_id": trace.format_span_id(context.span_id),
    }


@pytest.mark.parametrize("isolation", ["thread", "process"])
async def test_every_line_of_a_job_carries_its_trace(
    spans: Spans, log_text: tuple[str, Read], isolation: str
) -> None:
    """The daemon's lines carry the job span's ids; a block's line in its own span (threads), that span's.

    In process mode the job process's lines are replayed by the daemon: they carry the job span's ids.
    """
    log_format, read = log_text
    [job_id] = await run_jobs(settings(job_isolation=isolation), {"mode": "span"})
    span = job_span(spans, job_id)
    text = read()
    for message in (f"Job {job_id} started", f"Job {job_id} finished", "block started"):
        line = fields_of(log_format, text, message)
        assert {k: line.get(k) for k in ("job_id", "trace_id", "span_id")} == {"job_id": job_id, **ids(span)}
    device = fields_of(log_format, text, "talking to the device")
    if isolation == "thread":
        assert {k: device.get(k) for k in ("trace_id", "span_id")} == ids(spans.one("device call"))
    else:  # no provider in a job process of this test process's environment: the job's span it is
        assert {k: device.get(k) for k in ("trace_id", "span_id")} == ids(span)
    registered = fields_of(log_format, text, "Worker state: registered")
    assert "trace_id" not in registered


async def test_no_trace_fields_with_tracing_off(log_text: tuple[str, Read]) -> None:
    """Tracing off: the lines of a job have no ``trace_id`` or ``span_id`` at all."""
    log_format, read = log_text
    [job_id] = await run_jobs(settings(job_isolation="thread"), {"mode": "ok"})
    line = fields_of(log_format, read(), f"Job {job_id} finished")
    assert line["job_id"] == job_id
    assert "trace_id" not in line
    assert "span_id" not in line
