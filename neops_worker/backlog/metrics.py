"""The exporter's series, in a registry of its own, and the HTTP server that serves them.

A collector renders the last ``ExporterStatus`` at each scrape. The read loop replaces that status
whole after each read, so a scrape never sees half a read: the counts of one block from one read
and of another from the next.

| metric | type | labels |
|---|---|---|
| ``neops_worker_backlog_jobs`` | gauge | ``function_block``, ``state`` (``pending``, ``claimed``) |
| ``neops_worker_backlog_oldest_pending_seconds`` | gauge | ``function_block`` |
| ``neops_worker_backlog_up`` | gauge | — |
| ``neops_worker_backlog_last_success_timestamp_seconds`` | gauge | — |
| ``neops_worker_backlog_read_duration_seconds`` | gauge | — |
| ``neops_worker_backlog_read_failures_total`` | counter | — |
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from neops_worker.backlog.aggregate import Backlog
from neops_worker.backlog.listing import STATES
from neops_worker.errors import ConfigurationError


@dataclass(frozen=True)
class ExporterStatus:
    """What the exporter knows after its last read: the backlog as last read, and how reading goes."""

    #: The backlog of the last successful read (kept through an outage); None before the first.
    backlog: Backlog | None = None
    #: Whether the last read succeeded.
    up: bool = False
    #: When the last successful read ended (epoch seconds); None before the first.
    last_success: float | None = None
    #: How long the last read took, successful or not (seconds); None before the first.
    last_read_s: float | None = None
    #: Reads that failed since the exporter started.
    failures: int = 0


class BacklogCollector(Collector):
    """Renders the status the read loop last published."""

    def __init__(self, status: Callable[[], ExporterStatus]) -> None:
        self._status = status

    def describe(self) -> list[Metric]:
        """The families, without samples (the registry checks names with them)."""
        return list(_families())

    def collect(self) -> Iterator[Metric]:
        """The families with the samples of the last read."""
        status = self._status()
        jobs, oldest, up, last_success, duration, failures = _families()
        if status.backlog is not None:
            _add_backlog(status.backlog, jobs, oldest)
        up.add_metric([], 1.0 if status.up else 0.0)
        failures.add_metric([], float(status.failures))
        yield from (jobs, oldest, up, failures)
        if status.last_success is not None:
            last_success.add_metric([], status.last_success)
            yield last_success
        if status.last_read_s is not None:
            duration.add_metric([], status.last_read_s)
            yield duration


def _families() -> tuple[
    GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily,
    CounterMetricFamily,
]:  # fmt: skip
    return (
        GaugeMetricFamily(
            "neops_worker_backlog_jobs",
            "Jobs waiting for a worker (pending) or held by one (claimed), by function block.",
            labels=("function_block", "state"),
        ),
        GaugeMetricFamily(
            "neops_worker_backlog_oldest_pending_seconds",
            "Seconds the oldest pending job of the block has waited (0: none pending).",
            labels=("function_block",),
        ),
        GaugeMetricFamily(
            "neops_worker_backlog_up", "1 when the last read of the engine's job listing succeeded, else 0."
        ),
        GaugeMetricFamily(
            "neops_worker_backlog_last_success_timestamp_seconds",
            "When the last successful read of the job listing ended (Unix time).",
        ),
        GaugeMetricFamily(
            "neops_worker_backlog_read_duration_seconds", "How long the last read of the job listing took."
        ),
        CounterMetricFamily("neops_worker_backlog_read_failures", "Reads of the job listing that failed."),
    )


def _add_backlog(backlog: Backlog, jobs: GaugeMetricFamily, oldest: GaugeMetricFamily) -> None:
    for block in backlog.blocks:
        for state in STATES:
            jobs.add_metric([block, state], float(backlog.jobs.get((block, state), 0)))
        oldest.add_metric([block], backlog.oldest_pending_s[block])


def backlog_registry(status: Callable[[], ExporterStatus]) -> CollectorRegistry:
    """A registry of its own, holding only the exporter's collector."""
    registry = CollectorRegistry()
    registry.register(BacklogCollector(status))
    return registry


class MetricsServer:
    """prometheus_client's own HTTP server for ``registry``, on a thread, until ``close``."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        try:
            self._server, self._thread = start_http_server(port, addr=host, registry=registry)
        except OSError as exc:
            raise ConfigurationError(
                f"--port {port}: cannot listen on {host}:{port} ({exc.strerror or exc})"
            ) from None

    @property
    def port(self) -> int:
        """The bound port (the real one when 0 was asked for)."""
        return self._server.server_port

    def close(self) -> None:
        """Stop serving and release the port."""
        server: WSGIServer = self._server
        server.shutdown()
        server.server_close()
        self._thread.join(5)


__all__ = ["BacklogCollector", "ExporterStatus", "MetricsServer", "backlog_registry"]
