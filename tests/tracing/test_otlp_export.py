"""The real daemon, the local engine, a real OTLP/HTTP receiver: one trace per job, across the job process.

The ``neops_worker`` console script runs as a subprocess with ``OTEL_EXPORTER_OTLP_ENDPOINT`` pointing
at a receiver on 127.0.0.1. The daemon exports the job's span, the job process the span its block made;
both arrive, in the same trace, the block's span a child of the job's; the daemon's JSON log lines of
that job carry the same ``trace_id``. Without ``OTEL_*``, OpenTelemetry is never imported; asked for but
not installed, the worker stops at once with one line and exit code 2.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

from bench.otlp_receiver import otlp_receiver
from tests.integration.conftest import EngineUnderTest
from tests.integration.support import WorkerProcess, add_job, job, wait_until
from tests.tracing.conftest import BLOCKS, TRACED

REGISTERED = "Worker state: registered -> idle"


def _result(url: str, job_id: str, worker: WorkerProcess) -> dict[str, Any]:
    wait_until(lambda: job(url, job_id)["status"] == "pushed", 20, f"the result of {job_id}", worker)
    data: dict[str, Any] = job(url, job_id)["result"]["result"]["data"]
    return data


def _json_lines(worker: WorkerProcess) -> list[dict[str, Any]]:
    return [json.loads(line) for line in worker.output if line.startswith("{")]


def test_the_job_span_and_the_blocks_span_arrive_in_one_trace(
    engine: EngineUnderTest, start_worker: Any
) -> None:
    """Daemon and job process both export over OTLP/HTTP; the block's span nests under the job's."""
    with otlp_receiver() as receiver:
        worker: WorkerProcess = start_worker(
            engine.url,
            DIR_FUNCTION_BLOCKS=str(BLOCKS),
            LOG_FORMAT="json",
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url,
            OTEL_BSP_SCHEDULE_DELAY="100",
        )
        worker.wait_for_log(REGISTERED)
        job_id = add_job(engine.url, TRACED, mode="span")
        facts = _result(engine.url, job_id, worker)
        wait_until(lambda: bool(receiver.named("device call")), 10, "the block's span", worker)
        worker.signal(signal.SIGTERM)
        assert worker.wait() == 0
        [span] = receiver.named(f"job {TRACED}")  # exported at the latest when the daemon stops
    assert set(receiver.paths) == {"/v1/traces"}
    assert span.resource["service.name"] == "neops-worker"
    assert span.attributes["neops.job.id"] == job_id
    assert span.attributes["neops.job_process.pid"] == facts["pid"]
    assert facts["otel_loaded"] is True  # the job process traces
    [own] = receiver.named("device call")
    assert (own.trace_id, own.parent_span_id) == (span.trace_id, span.span_id)
    [push] = receiver.named("result push")
    assert (push.trace_id, push.parent_span_id) == (span.trace_id, span.span_id)
    lines = [line for line in _json_lines(worker) if line.get("job_id") == job_id]
    assert {line["message"].split(":")[0] for line in lines} >= {f"Job {job_id} started", "block started"}
    assert {line.get("trace_id") for line in lines} == {span.trace_id}
    [device] = [line for line in lines if line["message"] == "talking to the device"]
    assert device["span_id"] == own.span_id  # logged in the job process, inside the block's span
    [printed] = [line for line in lines if line["message"] == "printed by the block"]
    assert printed["span_id"] == span.span_id


def test_without_otel_variables_opentelemetry_is_never_imported(
    engine: EngineUnderTest, start_worker: Any
) -> None:
    """No OTEL_*: the daemon (a block run in it, JOB_ISOLATION=thread) has no opentelemetry module."""
    worker: WorkerProcess = start_worker(engine.url, DIR_FUNCTION_BLOCKS=str(BLOCKS), JOB_ISOLATION="thread")
    worker.wait_for_log(REGISTERED)
    facts = _result(engine.url, add_job(engine.url, TRACED, mode="ok"), worker)
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0
    assert facts["otel_loaded"] is False
    assert "trace_id" not in worker.log


def test_tracing_asked_for_without_the_extra_stops_with_one_line(
    engine: EngineUnderTest, start_worker: Any, tmp_path: Path
) -> None:
    """OTEL_TRACES_EXPORTER set, OpenTelemetry missing: one line naming the variable and the extra, exit 2."""
    shadow = tmp_path / "shadow" / "opentelemetry"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("")  # an opentelemetry without the SDK, as without the extra
    worker: WorkerProcess = start_worker(
        engine.url, OTEL_TRACES_EXPORTER="otlp", PYTHONPATH=str(shadow.parent), JOB_ISOLATION="thread"
    )
    assert worker.wait() == 2
    errors = [line for line in worker.output if "ERROR" in line]
    assert len(errors) == 1, worker.log
    assert "OTEL_TRACES_EXPORTER" in errors[0]
    assert "install neops-worker[otel]" in errors[0]
    assert "Traceback" not in worker.log
