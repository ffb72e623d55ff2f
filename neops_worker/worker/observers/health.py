"""The health listener (``/livez``, ``/readyz``, ``/metrics``) and the ``neops_worker health`` probe.

The listener is a tiny HTTP/1.1 responder served by ``asyncio.start_server`` on the worker's own
event loop: an answer from ``/livez`` proves the loop runs, which a server in a thread of its own
could not. It is off unless ``HEALTH_PORT`` is set, binds to ``HEALTH_HOST`` (127.0.0.1 by default),
and lives from before start-up until after the drain (an async context manager).

- ``/livez``: the daemon's own health, never the engine's: 200 unless every slot's job runner is
  wedged (a job process that survives SIGKILL, or none could be started for a minute). A job
  running long is not wedged, and an engine outage must not get a worker restarted (it may hold a
  result for the engine). A blocked event loop does not answer at all, which a probe counts as a
  failure too.
- ``/readyz``: 200 while at least one slot (the worker and its blocks) is registered and the engine
  answers (within three heartbeat intervals), until the drain starts; else 503 with the reason.
- ``/metrics``: the Prometheus text format (see ``neops_worker.worker.observers.metrics``).

The probe exits 0 or 1 only (Docker reserves 2 for HEALTHCHECK commands), with a one-line reason.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import http.client
import logging
import urllib.parse
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING

from neops_worker.errors import ConfigurationError
from neops_worker.worker.events import REGISTERED_STATES

if TYPE_CHECKING:
    from neops_worker.settings import Settings
    from neops_worker.worker.lifecycle import Worker
    from neops_worker.worker.observers.metrics import SlotMetrics, WorkerMetrics
    from neops_worker.worker.slots import Slots

log = logging.getLogger("neops_worker.health")

#: How long a client may take to send its request line and headers.
READ_TIMEOUT_S = 5.0
MAX_HEADER_LINES = 100
#: ``/readyz`` fails once the engine has not answered for this many heartbeat intervals.
ENGINE_SILENCE_INTERVALS = 3
PROBE_TIMEOUT_S = 3.0
TEXT = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class Answer:
    """One HTTP response of the listener."""

    status: int
    body: bytes
    content_type: str = TEXT

    @classmethod
    def check(cls, ok: bool, reason: str) -> Answer:
        """200 or 503 with the reason as a text line."""
        return cls(200 if ok else 503, (reason + "\n").encode())


def liveness(slots: Slots, metrics: WorkerMetrics) -> tuple[bool, str]:
    """Live unless every slot's job runner is wedged; the engine's absence does not count."""
    found = {number: w.runner.wedged() for number, w in enumerate(slots.workers, 1)}
    wedged = {number: why for number, why in found.items() if why}
    if len(slots.workers) == 1:
        return _one_alive(slots.workers[0], metrics.slot(1), wedged.get(1))
    counted = collections.Counter(worker.state.value for worker in slots.workers)
    states = ", ".join(f"{count} {state}" for state, count in counted.items())
    if len(wedged) == len(slots.workers):
        return False, "wedged: every slot: " + "; ".join(f"slot {n}: {why}" for n, why in wedged.items())
    if wedged:
        reasons = "; ".join(f"slot {n} wedged: {why}" for n, why in wedged.items())
        return (
            True,
            f"ok: {len(slots.workers) - len(wedged)} of {len(slots.workers)} slots can work ({reasons})",
        )
    return True, f"ok: {len(slots.workers)} slots: {states}"


def _one_alive(worker: Worker, metrics: SlotMetrics, wedged: str | None) -> tuple[bool, str]:
    if wedged:
        return False, f"wedged: {wedged}"
    if metrics.last_heartbeat_ok is None:
        return True, f"ok: {worker.state.value}"
    return (
        True,
        f"ok: {worker.state.value}, last heartbeat accepted {metrics.seconds_since_heartbeat():.1f} s ago",
    )


def readiness(slots: Slots, metrics: WorkerMetrics, limit_s: float) -> tuple[bool, str]:
    """Ready while a slot is registered (with an id) and the engine answers, until the drain starts."""
    first = slots.workers[0]
    if slots.stopping:
        return False, f"{first.state.value if len(slots.workers) == 1 else 'draining'}: shutting down"
    registered = slots.registered()
    if registered == 0:
        if first.state in REGISTERED_STATES and first.worker_id is None:
            return False, "registration lost: registering again"
        return False, f"not registered yet ({first.state.value})"
    silence = metrics.seconds_since_engine_answer()
    if silence > limit_s:
        return False, f"the engine has not answered for {silence:.0f} s (limit {limit_s:g} s)"
    if len(slots.workers) == 1:
        return True, f"ok: {first.state.value} as {first.worker_id}"
    return True, f"ok: {registered} of {len(slots.workers)} slots registered"


class HealthServer:
    """Serves ``/livez``, ``/readyz`` and ``/metrics`` for the daemon's slots on the running event loop."""

    def __init__(self, slots: Slots, metrics: WorkerMetrics, host: str, port: int, limit_s: float) -> None:
        self.slots = slots
        self.metrics = metrics
        self.host = host
        self.port = port
        self.limit_s = limit_s
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> HealthServer:
        try:
            self._server = await asyncio.start_server(self._serve, self.host, self.port)
        except OSError as exc:
            raise ConfigurationError(
                f"HEALTH_PORT: cannot listen on {self.host}:{self.port} ({exc.strerror or exc})"
            ) from None
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("Health listener on http://%s:%d (/livez, /readyz, /metrics)", self.host, self.port)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def answer(self, path: str) -> Answer:
        """The response for ``path``."""
        if path == "/livez":
            return Answer.check(*liveness(self.slots, self.metrics))
        if path == "/readyz":
            return Answer.check(*readiness(self.slots, self.metrics, self.limit_s))
        if path == "/metrics":
            body, content_type = self.metrics.render()
            return Answer(200, body, content_type)
        return Answer(404, b"not found: try /livez, /readyz or /metrics\n")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            method, path = await asyncio.wait_for(_read_request(reader), READ_TIMEOUT_S)
            allowed = method in ("GET", "HEAD")
            answer = self.answer(path) if allowed else Answer(405, b"only GET and HEAD\n")
            writer.write(_encode(answer, with_body=method != "HEAD"))
            await writer.drain()
        except (TimeoutError, ConnectionError, ValueError) as exc:
            log.debug("Health request dropped: %s", exc)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str]:
    """Method and path of one request; the headers are read and ignored."""
    parts = (await reader.readline()).decode("latin-1").split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise ValueError(f"not an HTTP request line: {' '.join(parts)[:80]!r}")
    for _ in range(MAX_HEADER_LINES):
        if (await reader.readline()).strip() == b"":
            return parts[0], urllib.parse.urlsplit(parts[1]).path
    raise ValueError("too many header lines")


def _encode(answer: Answer, with_body: bool) -> bytes:
    reason = http.client.responses.get(answer.status, "")
    head = (
        f"HTTP/1.1 {answer.status} {reason}\r\nContent-Type: {answer.content_type}\r\n"
        f"Content-Length: {len(answer.body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n"
    )
    return head.encode("latin-1") + (answer.body if with_body else b"")


# --- the probe ------------------------------------------------------------------------------------


def listener_url(host: str, port: int) -> str:
    """The base URL to reach a listener bound to ``host:port`` from this machine."""
    local = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104
    return f"http://[{local}]:{port}" if ":" in local else f"http://{local}:{port}"


def probe(url: str, timeout: float = PROBE_TIMEOUT_S) -> tuple[bool, str]:
    """GET ``url``: healthy on 200; the reason is the listener's text, or why it did not answer."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        return False, f"not an http:// URL: {url}"
    connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    try:
        connection.request("GET", parts.path or "/")
        response = connection.getresponse()
        text = response.read(2000).decode("utf-8", "replace").strip().splitlines()
    except (OSError, http.client.HTTPException) as exc:
        return False, f"no answer from {url}: {exc or type(exc).__name__}"
    finally:
        connection.close()
    reason = text[0] if text else f"HTTP {response.status}"
    return response.status == 200, reason


def configured_listener(settings: Settings) -> str:
    """The base URL of the listener ``HEALTH_HOST``/``HEALTH_PORT`` describe."""
    if settings.health_port is None:
        raise ConfigurationError("the health listener is off (HEALTH_PORT is unset); pass --url")
    return listener_url(settings.health_host, settings.health_port)


def run_probe(url: str | None, ready: bool, timeout: float) -> tuple[bool, str]:
    """Probe ``/livez`` (or ``/readyz``) of ``url`` or of the configured listener.

    Configuration problems count as unhealthy (exit 1), not as usage errors.
    """
    from neops_worker.settings import load_settings

    if url is None:
        try:
            url = configured_listener(load_settings())
        except ConfigurationError as exc:
            return False, f"configuration: {exc}"
    return probe(url.rstrip("/") + ("/readyz" if ready else "/livez"), timeout)


__all__ = [
    "Answer",
    "HealthServer",
    "configured_listener",
    "listener_url",
    "liveness",
    "probe",
    "readiness",
    "run_probe",
]
