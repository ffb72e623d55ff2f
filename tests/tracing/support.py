"""What the in-memory tracing tests share: a worker composed as the daemon is, run until its jobs end."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from neops_worker.settings import Settings
from tests.ops.fake_engine import FakeEngine
from tests.ops.harness import fast_settings, running_worker, wait_until
from tests.tracing.conftest import BLOCKS, TRACED, Spans

JOB_SPAN = f"job {TRACED}"


def settings(**overrides: Any) -> Settings:
    """A fast worker on the tracing test's block, in job processes unless told otherwise."""
    return fast_settings(**{"dir_function_blocks": [str(BLOCKS)], "job_isolation": "process", **overrides})


async def run_jobs(
    config: Settings,
    *params: dict[str, Any],
    engine: FakeEngine | None = None,
    spans: Spans | None = None,
) -> list[str]:
    """Run one job per ``params`` through a composed worker until each result is pushed (``spans``: or
    until each job's span ended)."""
    engine = engine or FakeEngine()
    async with running_worker(config, engine):
        ids = [engine.add_job(TRACED, p) for p in params]

        def done(job_id: str) -> bool:
            if spans is not None:
                return any(attrs(s)["neops.job.id"] == job_id for s in spans.named(JOB_SPAN))
            return job_id in engine.results

        await wait_until(lambda: all(done(i) for i in ids), 15, "every job")
    return ids


def job_span(spans: Spans, job_id: str) -> ReadableSpan:
    """The span of job ``job_id``."""
    [span] = [s for s in spans.named(JOB_SPAN) if attrs(s)["neops.job.id"] == job_id]
    return span


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})
