"""The exporter's life: bind the port, read the listing now and every interval, stop on a signal.

In order: bind ``--host``/``--port`` (a port in use: one line, exit 2) → read the engine's listing
at once, then every ``--interval`` seconds (a read that overruns is followed by the next at once) →
on SIGTERM or SIGINT, abandon a read in flight (it would change nothing worth waiting for) → stop
the server → exit 0.

No answer of the engine stops the exporter. A failed read sets ``neops_worker_backlog_up`` to 0 and
keeps the values of the last successful read: an autoscaler holds the fleet where it is through an
engine outage rather than scaling it to its minimum while workers may still hold results to push;
``neops_worker_backlog_last_success_timestamp_seconds`` says how old they are. An outage is logged
once as it starts (again only if the kind of failure changes) and once when it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Protocol

from prometheus_client import CollectorRegistry, generate_latest

from neops_worker.backlog.aggregate import Backlog, BacklogTracker
from neops_worker.backlog.listing import MAX_PAGES, PAGE_LIMIT, JobListingClient, Listing, ListingError
from neops_worker.backlog.metrics import ExporterStatus, MetricsServer, backlog_registry
from neops_worker.engine.client import tls_verify
from neops_worker.settings import Settings

log = logging.getLogger("neops_worker.backlog")

Clock = Callable[[], float]
#: The exporter's port: 9465, beside the worker's health port, in Prometheus' range for exporters.
DEFAULT_PORT = 9465
DEFAULT_INTERVAL_S = 15.0


@dataclass(frozen=True)
class ExporterOptions:
    """Where the exporter listens and how often it reads."""

    host: str = "0.0.0.0"  # noqa: S104 - meant for a pod, scraped from other pods (see the CLI's help)
    port: int = DEFAULT_PORT
    interval_s: float = DEFAULT_INTERVAL_S


class JobSource(Protocol):
    """Where the backlog comes from: ``JobListingClient``, or a test's fake."""

    base_url: str

    async def read(self) -> Listing:
        """The pending and the claimed jobs; ``ListingError`` if they cannot be read."""
        ...

    async def aclose(self) -> None:
        """Release the connections."""
        ...


@dataclass
class _Outage:
    """Reads failing since ``since`` (monotonic); ``kind`` of failure, as last said."""

    since: float
    kind: str
    failures: int = 1


@dataclass(frozen=True)
class _Failure:
    """A failed read: its line for the log, what kind of failure (the same whatever the route), and
    the exception when it was not one the listing foresees (a bug: its traceback is logged)."""

    reason: str
    kind: str
    exception: BaseException | None = None


class BacklogExporter:
    """Reads the listing and publishes the backlog as an ``ExporterStatus``; logs outages once."""

    def __init__(
        self,
        listing: JobSource,
        interval_s: float = DEFAULT_INTERVAL_S,
        *,
        clock: Clock = time.time,
        timer: Clock = time.monotonic,
    ) -> None:
        self.listing = listing
        self.interval_s = interval_s
        #: What the collector renders; replaced whole after each read.
        self.status = ExporterStatus()
        self._tracker = BacklogTracker(clock)
        self._clock, self._timer = clock, timer
        self._outage: _Outage | None = None
        self._truncated: tuple[str, ...] = ()

    async def run(self) -> None:
        """Read now, then every ``interval_s`` seconds, until cancelled."""
        while True:
            started = self._timer()
            await self.read_once()
            await asyncio.sleep(max(0.0, self.interval_s - (self._timer() - started)))

    async def read_once(self) -> bool:
        """One read; True if it succeeded. Never raises but for cancellation."""
        started = self._timer()
        try:
            listing = await self.listing.read()
        except ListingError as exc:
            self._failed(_Failure(exc.reason, exc.why), self._timer() - started)
            return False
        except Exception as exc:  # a bug must not stop the exporter: this read failed, the next may not
            self._failed(
                _Failure(f"{type(exc).__name__}: {exc}", type(exc).__name__, exc), self._timer() - started
            )
            return False
        self._succeeded(listing, self._timer() - started)
        return True

    def _succeeded(self, listing: Listing, took: float) -> None:
        backlog = self._tracker.update(listing)
        first = self.status.last_success is None
        self.status = ExporterStatus(backlog, True, self._clock(), took, self.status.failures)
        self._say_truncated(listing.truncated)
        if self._outage is not None:
            outage, self._outage = self._outage, None
            log.info(
                "Reading the job listing of the engine at %s again after %.0f s and %d failed read(s): %s",
                self.listing.base_url,
                self._timer() - outage.since,
                outage.failures,
                _summary(backlog),
            )
        elif first:
            log.info("Backlog read from the engine at %s: %s", self.listing.base_url, _summary(backlog))

    def _failed(self, failure: _Failure, took: float) -> None:
        status = self.status
        self.status = replace(status, up=False, last_read_s=took, failures=status.failures + 1)
        outage = self._outage
        if outage is None:
            self._outage = _Outage(self._timer(), failure.kind)
            log.warning(
                "Cannot read the job listing of the engine at %s: %s. neops_worker_backlog_up is 0, "
                "%s; trying again every %g s",
                self.listing.base_url,
                failure.reason,
                self._kept(),
                self.interval_s,
                exc_info=failure.exception,
            )
            return
        outage.failures += 1
        if failure.kind != outage.kind:
            outage.kind = failure.kind
            log.warning(
                "Still cannot read the job listing of the engine at %s, now: %s",
                self.listing.base_url,
                failure.reason,
                exc_info=failure.exception,
            )

    def _kept(self) -> str:
        """What the series show meanwhile, for the outage's first line."""
        if self.status.last_success is None:
            return "no backlog series until a read succeeds"
        age = self._clock() - self.status.last_success
        return f"the backlog series keep the values read {age:.0f} s ago"

    def _say_truncated(self, truncated: tuple[str, ...]) -> None:
        """Say once when the listing gets too long to read whole, and once when it fits again."""
        if truncated and truncated != self._truncated:
            log.warning(
                "The engine lists more %s jobs than one read takes (%s); the oldest are counted, "
                "so their per-block counts are lower bounds until the backlog shrinks",
                " and ".join(truncated),
                f"{MAX_PAGES} pages of {PAGE_LIMIT}",
            )
        elif self._truncated and not truncated:
            log.info("The engine's job listing is read whole again")
        self._truncated = truncated


def _summary(backlog: Backlog) -> str:
    return (
        f"{backlog.total('pending')} pending and {backlog.total('claimed')} claimed job(s) "
        f"in {len(backlog.blocks)} block(s)"
    )


def listing_client(settings: Settings) -> JobListingClient:
    """The listing client of the settings: URL_BLACKBOARD, the token, the CA bundle, the request timeout."""
    from neops_worker import __version__

    token = settings.blackboard_token
    return JobListingClient(
        settings.base_url,
        token=None if token is None else token.get_secret_value(),
        verify=tls_verify(settings.blackboard_ca_bundle),
        timeout=settings.api_request_timeout,
        user_agent=f"neops-worker-backlog/{__version__}",
    )


def run_exporter(settings: Settings, options: ExporterOptions) -> int:
    """Serve until SIGTERM or SIGINT; 0. A port that cannot be bound raises ``ConfigurationError``."""
    exporter = BacklogExporter(listing_client(settings), options.interval_s)
    server = MetricsServer(backlog_registry(lambda: exporter.status), options.host, options.port)
    log.info(
        "Backlog exporter serving http://%s:%d/metrics; reading the jobs of the engine at %s every %g s",
        _shown(options.host),
        server.port,
        settings.base_url,
        options.interval_s,
    )
    try:
        asyncio.run(_serve(exporter))
    finally:
        server.close()
    log.info("Backlog exporter stopped")
    return 0


def read_once(settings: Settings) -> tuple[bool, bytes]:
    """One read, for ``--once``: whether it succeeded, and the series in Prometheus' text format."""
    exporter = BacklogExporter(listing_client(settings))
    registry: CollectorRegistry = backlog_registry(lambda: exporter.status)

    async def once() -> bool:
        """The read, then the connections closed, on one loop."""
        try:
            return await exporter.read_once()
        finally:
            await exporter.listing.aclose()

    ok = asyncio.run(once())
    return ok, generate_latest(registry)


async def _serve(exporter: BacklogExporter) -> None:
    """Run the read loop until a stop signal; a read in flight is abandoned."""
    stop = asyncio.Event()
    with _stop_signals(stop):
        reader = asyncio.create_task(exporter.run(), name="backlog-reader")
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({reader, stopping}, return_when=asyncio.FIRST_COMPLETED)
    for task in (reader, stopping):
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reader  # raises what ended the loop, if not the signal
    await exporter.listing.aclose()


@contextlib.contextmanager
def _stop_signals(stop: asyncio.Event) -> Iterator[None]:
    """SIGTERM and SIGINT set ``stop`` (with one log line), for as long as the block runs."""
    loop = asyncio.get_running_loop()
    signums = (signal.SIGTERM, signal.SIGINT)

    def received(signum: signal.Signals) -> None:
        """The first of them says so; any sets ``stop``."""
        if not stop.is_set():
            log.info("Received %s: stopping the backlog exporter", signum.name)
        stop.set()

    for signum in signums:
        loop.add_signal_handler(signum, received, signum)
    try:
        yield
    finally:
        for signum in signums:
            loop.remove_signal_handler(signum)


def _shown(host: str) -> str:
    return f"[{host}]" if ":" in host else host


__all__ = [
    "DEFAULT_INTERVAL_S",
    "DEFAULT_PORT",
    "BacklogExporter",
    "ExporterOptions",
    "JobSource",
    "read_once",
    "run_exporter",
]
