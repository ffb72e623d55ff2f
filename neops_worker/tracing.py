"""One trace per job, with OpenTelemetry, when the ``OTEL_*`` variables ask for it (the ``otel`` extra).

Tracing is on when ``OTEL_TRACES_EXPORTER`` names an exporter (not ``none``), or when
``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is set (then it exports with
OTLP); ``OTEL_SDK_DISABLED=true`` turns it off. Otherwise nothing here imports OpenTelemetry and every
call below is a no-op. The rest of the configuration is the SDK's own: the exporter reads its endpoint,
headers and timeout, ``TracerProvider`` its sampler, ``Resource.create`` ``OTEL_SERVICE_NAME`` and
``OTEL_RESOURCE_ATTRIBUTES``, the batch processor ``OTEL_BSP_*``.

The daemon owns each job's span (``job_span``): it covers claim, run and push, so a job process that
crashes, is killed at ``JOB_TIMEOUT`` or is replaced still ends it, with the outcome. The job process
gets the span's W3C ``traceparent`` with each job (``carrier``) and makes it the current context around
the block (``remote_context``): a block's own spans, or an instrumented library's, nest under the job.
A job process has a provider of its own, made after its fork (``setup_job_process``): a batch
processor's thread never crosses a fork. This module is the only one that imports ``opentelemetry``.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING

from neops_worker import observability
from neops_worker.errors import ConfigurationError

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span, SpanContext, Tracer

    from neops_worker.engine.wire import JobDefinition
    from neops_worker.worker.outcome import JobOutcome

log = logging.getLogger("neops_worker.tracing")

#: The instrumentation scope of the worker's own spans.
SCOPE = "neops_worker"
DEFAULT_SERVICE_NAME = "neops-worker"
#: The exporter names ``otlp`` stands for, by ``OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL``.
_OTLP_BY_PROTOCOL = {"http/protobuf": "otlp_proto_http", "grpc": "otlp_proto_grpc"}
#: How long a stopping process waits for its last spans to leave.
FLUSH_TIMEOUT_MS = 5000
#: A status description says this much of the result's message.
REASON_CHARS = 300

_tracer: Tracer | None = None
_provider: TracerProvider | None = None
#: The span context of each job in hand, for the log lines that are not written in its context
#: (what its job process printed or logged, replayed by the daemon with the job's id).
_jobs: dict[str, SpanContext] = {}


def configured(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the ``OTEL_*`` variables ask for traces (the SDK not disabled, an exporter or endpoint set)."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter:
        return exporter != "none"
    return bool(
        environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def enabled() -> bool:
    """Spans are being made in this process."""
    return _tracer is not None


def setup_from_environment(environ: Mapping[str, str] = os.environ) -> bool:
    """The daemon's tracer provider, as the ``OTEL_*`` variables configure it; False: tracing is off.

    Call after the template process is forked (a fork must not copy the batch processor's thread).
    Raises ``ConfigurationError`` (exit 2) when they ask for traces that cannot be made: the extra is
    not installed, or ``OTEL_TRACES_EXPORTER`` names no installed exporter.
    """
    if not configured(environ):
        return False
    if importlib.util.find_spec("opentelemetry.sdk") is None:
        raise ConfigurationError(
            f"{_asking(environ)} asks for traces, but OpenTelemetry is not installed: "
            "install neops-worker[otel], or unset it"
        )
    enable(_provider_from(environ), global_provider=True)
    log.info("Tracing on: one trace per job, exported by %s", ", ".join(_exporter_names(environ)))
    return True


def setup_job_process() -> None:
    """In a job process, after its fork: a provider of its own when the daemon traces (no-op if not)."""
    disable()  # what this process inherited from the one it was forked from is not its own
    if not configured() or importlib.util.find_spec("opentelemetry.sdk") is None:
        return
    try:
        enable(_provider_from(os.environ), global_provider=True)
    except ConfigurationError as exc:  # the daemon said so at its start already
        log.warning("No spans from this job process: %s", exc)
        return
    for handler in logging.getLogger().handlers:
        handler.addFilter(_TraceFilter())


def enable(provider: TracerProvider, *, global_provider: bool = False) -> None:
    """Make the job spans with ``provider`` (``global_provider``: also the one blocks get).

    ``setup_from_environment`` calls it; tests pass a provider with an in-memory exporter.
    """
    global _provider, _tracer
    from neops_worker import __version__

    if global_provider:
        from opentelemetry import trace

        trace.set_tracer_provider(provider)
    _provider, _tracer = provider, provider.get_tracer(SCOPE, __version__)
    observability.trace_fields = log_fields


def disable() -> None:
    """No more spans from this process (the provider is left as it is)."""
    global _provider, _tracer
    _provider, _tracer = None, None
    _jobs.clear()
    observability.trace_fields = None


def shutdown() -> None:
    """Export the spans still queued and stop the provider (at the daemon's exit)."""
    provider = _provider
    disable()
    if provider is not None:
        provider.shutdown()  # the batch processor exports what it holds first


@contextlib.contextmanager
def traced_daemon(environ: Mapping[str, str] = os.environ) -> Iterator[None]:
    """Tracing for the daemon's life, from the environment; its last spans exported at the end."""
    on = setup_from_environment(environ)
    try:
        yield
    finally:
        if on:
            shutdown()


def flush() -> None:
    """Export what this process has queued now (a job process about to exit)."""
    if _provider is not None:
        _provider.force_flush(FLUSH_TIMEOUT_MS)


# --- configuration from the environment, the SDK's own way ----------------------------------------


def _asking(environ: Mapping[str, str]) -> str:
    """The variable that turned tracing on, for the line that says it cannot be."""
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        if environ.get(name):
            return name
    return "OTEL_TRACES_EXPORTER"


def _exporter_names(environ: Mapping[str, str]) -> list[str]:
    """The entry-point names of the span exporters asked for; ``otlp`` is OTLP/HTTP unless told gRPC."""
    names = [name.strip() for name in environ.get("OTEL_TRACES_EXPORTER", "otlp").split(",") if name.strip()]
    protocol = (
        environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()
    if "otlp" in names and protocol not in _OTLP_BY_PROTOCOL:
        raise ConfigurationError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL: {protocol!r} is not an OTLP protocol (http/protobuf or grpc)"
        )
    return [_OTLP_BY_PROTOCOL[protocol] if name == "otlp" else name for name in names if name != "none"]


def _exporters(environ: Mapping[str, str]) -> list[SpanExporter]:
    """One exporter per name, found as the SDK finds them: entry points ``opentelemetry_traces_exporter``."""
    exporters: list[SpanExporter] = []
    for name in _exporter_names(environ):
        found = _exporter_class(name)
        if found is None:
            from importlib.metadata import entry_points

            known = sorted(point.name for point in entry_points(group="opentelemetry_traces_exporter"))
            hint = " (install opentelemetry-exporter-otlp-proto-grpc)" if name == "otlp_proto_grpc" else ""
            raise ConfigurationError(
                f"OTEL_TRACES_EXPORTER: no span exporter {name!r} is installed{hint}; "
                f"installed: {', '.join(known) or 'none'}"
            )
        exporters.append(found())
    return exporters


@functools.cache
def _exporter_class(name: str) -> Callable[[], SpanExporter] | None:
    """The exporter class an entry point names (looked up once per process, or once in the template)."""
    from importlib.metadata import entry_points

    found = list(entry_points(group="opentelemetry_traces_exporter", name=name))
    exporter: Callable[[], SpanExporter] | None = found[0].load() if found else None
    return exporter


def preload(environ: Mapping[str, str] = os.environ) -> None:
    """In the template process: import what a job process's provider needs, so that each fork has it.

    No provider and no thread: a job process makes its own after its fork (``setup_job_process``).
    """
    if not configured(environ) or importlib.util.find_spec("opentelemetry.sdk") is None:
        return
    import opentelemetry.sdk.resources
    import opentelemetry.sdk.trace.export
    import opentelemetry.trace.propagation.tracecontext  # noqa: F401 - imported to be inherited

    with contextlib.suppress(ConfigurationError):  # the daemon says it, once
        for name in _exporter_names(environ):
            exporter = _exporter_class(name)
            if exporter is not None:
                exporter().shutdown()  # one made and dropped: what it imports lazily is imported now


def _provider_from(environ: Mapping[str, str]) -> TracerProvider:
    """A provider with the SDK's sampler and resource from the environment, batching to the exporters."""
    from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from neops_worker import __version__

    resource = Resource.create({SERVICE_VERSION: __version__})
    if str(resource.attributes.get(SERVICE_NAME, "unknown_service")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: DEFAULT_SERVICE_NAME}))
    exporters = _exporters(environ)
    provider = TracerProvider(resource=resource)
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


# --- the job's span, in the daemon ------------------------------------------------------------------


class JobSpan:
    """The span of one job as the job loop sees it; with tracing off, every method does nothing."""

    def __init__(self, span: Span | None = None) -> None:
        self._span = span

    def finished(self, outcome: JobOutcome) -> None:
        """The job ran: its outcome, and the job process's replacement if it caused one."""
        span = self._span
        if span is None:
            return
        span.set_attribute("neops.job.outcome", outcome.outcome)
        span.set_attribute("neops.job_process.restarts", 1 if outcome.restart else 0)
        if outcome.restart:
            span.add_event("job_process.replaced", {"reason": outcome.restart})
        if outcome.outcome != "success":
            message = outcome.result.result.message or ""
            _error(span, f"{outcome.outcome}: {message}"[:REASON_CHARS])

    def delivered(self, ended: str, *, lost: bool) -> None:
        """How its result's delivery ended; a result that never reached the engine fails the span."""
        if self._span is None:
            return
        self._span.set_attribute("neops.result.delivery", ended)
        if lost:
            _error(self._span, f"result {ended}")


#: With tracing off: the contexts every job enters, made once.
_NO_JOB_SPAN = contextlib.nullcontext(JobSpan())
_NO_SPAN = contextlib.nullcontext()


def job_span(job: JobDefinition, worker_id: str | None) -> contextlib.AbstractContextManager[JobSpan]:
    """The job's span, current inside; ended on the way out (an abandoned job: error, ``abandoned``).

    Tracing off: a context that does nothing, made once (nothing is added to a job's path).
    """
    tracer = _tracer
    return _NO_JOB_SPAN if tracer is None else _job_span(tracer, job, worker_id)


@contextlib.contextmanager
def _job_span(tracer: Tracer, job: JobDefinition, worker_id: str | None) -> Iterator[JobSpan]:
    from opentelemetry import context, trace

    span = tracer.start_span(
        f"job {job.function_block_id}",
        kind=trace.SpanKind.CONSUMER,
        attributes=_job_attributes(job, worker_id),
    )
    token = context.attach(trace.set_span_in_context(span))
    _jobs[job.job_id] = span.get_span_context()
    try:
        yield JobSpan(span)
    except BaseException as exc:
        span.set_attribute("neops.job.outcome", "abandoned" if _cancelled(exc) else "error")
        if _cancelled(exc):
            span.add_event("job_process.replaced", {"reason": "abandoned"})
        _error(span, "abandoned: the worker gave up the job" if _cancelled(exc) else _describe(exc))
        raise
    finally:
        _jobs.pop(job.job_id, None)
        context.detach(token)
        span.end()


def span(
    name: str, attributes: Mapping[str, str | int] | None = None
) -> contextlib.AbstractContextManager[None]:
    """A child span of the current one (the result push and its attempts); an exception fails it."""
    tracer = _tracer
    return _NO_SPAN if tracer is None else _span(tracer, name, attributes)


@contextlib.contextmanager
def _span(tracer: Tracer, name: str, attributes: Mapping[str, str | int] | None) -> Iterator[None]:
    with tracer.start_as_current_span(
        name, attributes=attributes, record_exception=False, set_status_on_exception=False
    ) as current:
        try:
            yield
        except BaseException as exc:
            _error(current, _describe(exc))
            raise


def failed(reason: str) -> None:
    """The current span ends in error, for ``reason`` (a failure handled without an exception)."""
    if _tracer is None:
        return
    from opentelemetry import trace

    _error(trace.get_current_span(), reason[:REASON_CHARS])


def job_process(pid: int) -> None:
    """The job process that runs the job in hand, on its span (set before the job can crash)."""
    if _tracer is None:
        return
    from opentelemetry import trace

    trace.get_current_span().set_attribute("neops.job_process.pid", pid)


def _job_attributes(job: JobDefinition, worker_id: str | None) -> dict[str, str | int]:
    attributes: dict[str, str | int] = {
        "neops.job.id": job.job_id,
        "neops.function_block": job.function_block_id,
        "neops.job.type": job.type,
    }
    if worker_id:
        attributes["neops.worker.id"] = worker_id
    # A worker of one slot is slot 1, as its metrics say.
    attributes["neops.worker.slot"] = observability.current_slot() or 1
    return attributes


def _error(span: Span, reason: str) -> None:
    from opentelemetry.trace import Status, StatusCode

    span.set_status(Status(StatusCode.ERROR, reason))


def _cancelled(exc: BaseException) -> bool:
    import asyncio

    return isinstance(exc, asyncio.CancelledError)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:REASON_CHARS]


# --- across the job process's boundary --------------------------------------------------------------


def carrier() -> dict[str, str] | None:
    """The current context as W3C headers (``traceparent``, ``tracestate``) for the job process."""
    if _tracer is None:
        return None
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    headers: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(headers)
    return headers or None


@contextlib.contextmanager
def remote_context(headers: Mapping[str, str] | None) -> Iterator[None]:
    """Inside, the job span the daemon sent is the current context (in a job process that traces)."""
    if _tracer is None or not headers:
        yield
        return
    from opentelemetry import context
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    token = context.attach(TraceContextTextMapPropagator().extract(dict(headers)))
    try:
        yield
    finally:
        context.detach(token)


# --- trace ids in log lines -------------------------------------------------------------------------


def log_fields(record: logging.LogRecord) -> Mapping[str, str]:
    """``trace_id`` and ``span_id`` (hex) of the current span, else of the job the record names."""
    from opentelemetry import trace

    current = trace.get_current_span().get_span_context()
    if not current.is_valid:
        job_id = getattr(record, "job_id", None)
        known = _jobs.get(job_id) if isinstance(job_id, str) else None
        if known is None:
            return {}
        current = known
    return {
        "trace_id": trace.format_trace_id(current.trace_id),
        "span_id": trace.format_span_id(current.span_id),
    }


class _TraceFilter(logging.Filter):
    """In a job process: the trace's ids on each record, before it is forwarded to the daemon."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in log_fields(record).items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True
