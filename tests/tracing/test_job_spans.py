"""One span per job, owned by the daemon: the real worker parts, the fake engine, spans kept in memory.

The worker is composed by ``runtime.compose`` as the daemon is, with real job processes (or job
threads); only the engine is a fake behind an httpx transport. Whatever becomes of the job process —
an error, a crash, a kill at ``JOB_TIMEOUT``, a ``sys.exit``, a replacement after the job — the
job's span ends, with the outcome, and an error status saying why when the job did not succeed.
"""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from tests.ops.fake_engine import FakeEngine
from tests.tracing.conftest import TRACED, Spans
from tests.tracing.support import attrs as _attrs
from tests.tracing.support import job_span, run_jobs, settings


def _replaced(span: ReadableSpan) -> list[str]:
    """The reasons of the job process replacements the span tells of."""
    return [str((e.attributes or {})["reason"]) for e in span.events if e.name == "job_process.replaced"]


def _children(spans: Spans, parent: ReadableSpan, name: str) -> list[ReadableSpan]:
    """The spans called ``name`` whose parent is ``parent`` (in its trace)."""
    context = parent.context
    assert context is not None
    return [
        s
        for s in spans.named(name)
        if s.parent is not None
        and s.context is not None
        and (s.parent.span_id, s.context.trace_id) == (context.span_id, context.trace_id)
    ]


async def test_a_job_is_one_span_from_claim_to_push_with_the_push_as_a_child(spans: Spans) -> None:
    """A job's span names the job, block, type, worker, slot, outcome, pid; the push and its attempt nest."""
    engine = FakeEngine()
    [job_id] = await run_jobs(settings(), {"mode": "ok"}, engine=engine)
    span = job_span(spans, job_id)
    attributes = _attrs(span)
    pid = engine.results[job_id]["result"]["data"]["pid"]
    assert attributes == {
        "neops.job.id": job_id,
        "neops.function_block": TRACED,
        "neops.job.type": "execute",
        "neops.worker.id": attributes["neops.worker.id"],
        "neops.worker.slot": 1,
        "neops.job.outcome": "success",
        "neops.job_process.pid": pid,
        "neops.job_process.restarts": 0,
        "neops.result.delivery": "delivered",
    }
    assert attributes["neops.worker.id"]
    assert (span.kind, span.status.status_code, _replaced(span)) == (SpanKind.CONSUMER, StatusCode.UNSET, [])
    [push] = _children(spans, span, "result push")
    [attempt] = _children(spans, push, "result push attempt")
    assert (push.status.status_code, attempt.status.status_code) == (StatusCode.UNSET, StatusCode.UNSET)
    times = [span.start_time, push.start_time, push.end_time, span.end_time]
    assert times == sorted(t or 0 for t in times)


@pytest.mark.parametrize(
    ("params", "overrides", "outcome", "reason", "restart"),
    [
        ({"mode": "error"}, {}, "error", "error: ", None),
        ({"mode": "fail"}, {}, "failed", "failed: the device refused the change", None),
        ({"mode": "os_exit"}, {}, "crashed", "crashed: The job process exited with status 4", "crash"),
        ({"mode": "segfault"}, {}, "crashed", "crashed: The job process was killed by SIGSEGV", "crash"),
        ({"mode": "sys_exit"}, {}, "exited", "exited: ", "sys_exit"),
        (
            {"mode": "sleep", "seconds": 30},
            {"job_timeout": 0.5},
            "timeout",
            "timeout: Job killed after",
            "timeout",
        ),
    ],
    ids=["error", "failed", "os_exit", "segfault", "sys_exit", "timeout"],
)
async def test_a_job_that_does_not_succeed_ends_its_span_in_error_with_the_reason(
    spans: Spans,
    params: dict[str, Any],
    overrides: dict[str, Any],
    outcome: str,
    reason: str,
    restart: str | None,
) -> None:
    """Error, failure, crash, segfault, sys.exit, JOB_TIMEOUT kill: the span ends, ERROR, saying why."""
    engine = FakeEngine()
    bad, good = await run_jobs(settings(**overrides), params, {"mode": "ok"}, engine=engine)
    span = job_span(spans, bad)
    attributes = _attrs(span)
    assert (attributes["neops.job.outcome"], span.status.status_code) == (outcome, StatusCode.ERROR)
    assert (span.status.description or "").startswith(reason), span.status.description
    assert span.status.description == f"{outcome}: {engine.results[bad]['result']['message']}"[:300]
    assert _replaced(span) == ([restart] if restart else [])
    assert attributes["neops.job_process.restarts"] == (1 if restart else 0)
    assert len(_children(spans, span, "result push")) == 1
    after = job_span(spans, good)
    assert after.status.status_code == StatusCode.UNSET
    assert after.context.trace_id != span.context.trace_id
    replaced = _attrs(after)["neops.job_process.pid"] != attributes["neops.job_process.pid"]
    assert replaced == (restart is not None)


async def test_a_recycled_job_process_is_an_event_on_a_successful_span(spans: Spans) -> None:
    """MAX_JOBS_PER_PROCESS=1: each job's span tells of the replacement, and stays a success."""
    first, second = await run_jobs(settings(max_jobs_per_process=1), {"mode": "ok"}, {"mode": "ok"})
    ended = [job_span(spans, first), job_span(spans, second)]
    assert [s.status.status_code for s in ended] == [StatusCode.UNSET, StatusCode.UNSET]
    assert [_replaced(s) for s in ended] == [["max_jobs"], ["max_jobs"]]
    assert [_attrs(s)["neops.job_process.restarts"] for s in ended] == [1, 1]
    assert _attrs(ended[0])["neops.job_process.pid"] != _attrs(ended[1])["neops.job_process.pid"]


async def test_a_lost_result_fails_the_job_span_and_each_push_attempt(spans: Spans) -> None:
    """An engine refusing every result (503 until RESULT_PUSH_TIMEOUT): attempts, push and job in error."""
    engine = FakeEngine(result_status=503)
    [job_id] = await run_jobs(settings(result_push_timeout=0.3), {"mode": "ok"}, engine=engine, spans=spans)
    span = job_span(spans, job_id)
    assert (span.status.status_code, span.status.description) == (StatusCode.ERROR, "result lost")
    assert _attrs(span)["neops.job.outcome"] == "success"
    [push] = _children(spans, span, "result push")
    attempts = _children(spans, push, "result push attempt")
    assert (push.status.status_code, push.status.description) == (StatusCode.ERROR, "result lost")
    assert {a.status.status_code for a in attempts} == {StatusCode.ERROR}
    assert [_attrs(a)["neops.push.attempt"] for a in attempts] == list(range(1, len(attempts) + 1))


async def test_in_thread_mode_a_blocks_own_span_nests_under_the_job_span(spans: Spans) -> None:
    """JOB_ISOLATION=thread: the job thread runs in the job span's context; the block's span is its child."""
    [job_id] = await run_jobs(settings(job_isolation="thread"), {"mode": "span"})
    span = job_span(spans, job_id)
    assert "neops.job_process.pid" not in _attrs(span)
    [own] = _children(spans, span, "device call")
    assert own.instrumentation_scope is not None
    assert own.instrumentation_scope.name == "tests.tracing.traced"


async def test_with_tracing_off_no_span_is_made(spans: Spans) -> None:
    """tracing.disable(): the same job leaves no span behind."""
    from neops_worker import tracing

    tracing.disable()
    await run_jobs(settings(job_isolation="thread"), {"mode": "span"})
    assert [s.name for s in spans.all()] == ["device call"]  # the block's own: the global provider's
