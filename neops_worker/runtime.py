"""The composition root: settings -> logging -> client -> template -> slots (Workers); signals; exit codes.

``compose`` builds the ready-to-serve daemon from the settings (client, observers, the shared
template, ``WORKER_SLOTS`` slots each with its job runner, extensions), and ``Composition.started``
starts and stops its companions in a fixed order. The
daemon and the tests serve the same composition; only the tests pass a transport for the network.
Only this module touches the process: while the worker serves, SIGTERM/SIGINT only ask it to stop
(through the event loop) and the handlers they had before come back afterwards; it starts the event
loop and maps errors to exit codes. Discovery happens in the runner: in the template process
(``JOB_ISOLATION=process``), which the daemon forks before the event loop starts
(``early_template``), or in this one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from neops_worker import __version__
from neops_worker.engine.client import EngineClient, tls_verify
from neops_worker.engine.wire import JobDefinition
from neops_worker.errors import EXIT_OK, LicenceRefusedError, NeopsWorkerError
from neops_worker.observability import setup_logging
from neops_worker.scrub import scrub_standard_streams, set_secret_keys, set_static_secrets
from neops_worker.settings import Settings
from neops_worker.worker.events import Observers, WorkerObserver
from neops_worker.worker.lifecycle import Worker
from neops_worker.worker.outcome import JobOutcome
from neops_worker.worker.runner import JobRunner
from neops_worker.worker.slots import Slots

if TYPE_CHECKING:
    from neops_worker.engine.exchange import Transport
    from neops_worker.worker.jobprocess.launch import Launched
    from neops_worker.worker.jobprocess.supervisor import TemplateHost
    from neops_worker.worker.observers.metrics import WorkerMetrics

log = logging.getLogger("neops_worker")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def run_worker(settings: Settings) -> int:
    """Run the worker daemon until it is stopped; returns the process exit code."""
    setup_logging(settings.log_level, settings.log_format, settings.worker_name)
    set_static_secrets([settings.blackboard_token.get_secret_value() if settings.blackboard_token else None])
    set_secret_keys(settings.log_redact_extra_keys)
    if settings.job_isolation == "thread":
        scrub_standard_streams()  # blocks print in this process: scrubbed as their log lines are
    log.debug("Effective configuration: %s", settings.public_view())
    template = early_template(settings)
    try:
        from neops_worker.tracing import traced_daemon  # imports OpenTelemetry only if OTEL_* ask for it

        with traced_daemon():  # after the template's fork: no exporter thread may cross it
            return asyncio.run(_serve(settings, template))
    except NeopsWorkerError as exc:
        # The one place a fatal error is printed: the parts that raise it do not log it as well.
        log.error("%s", final_line(exc))
        return exc.exit_code


def final_line(exc: NeopsWorkerError) -> str:
    """The worker's last line before it exits with ``exc``'s code: one line, whatever the error holds.

    A licence refusal was said in full, as the first error, when it happened: not again here.
    """
    if isinstance(exc, LicenceRefusedError):
        return f"Stopped: the engine's licence refused this worker (exit {exc.exit_code}; reason above)"
    return "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())


def early_template(settings: Settings) -> Launched | None:
    """In process mode, the template process forked now: call before the event loop and any thread.

    A template forked from this process starts with what it has imported already and shares those
    pages; one started later (a worker composed inside a running loop) is a new interpreter.
    """
    if settings.job_isolation != "process":
        return None
    from neops_worker.worker.jobprocess.launch import fork_template

    return fork_template(settings)


def make_runner(
    settings: Settings,
    observer: WorkerObserver,
    template: Launched | None = None,
    host: TemplateHost | None = None,
) -> JobRunner:
    """Job processes (from ``host``'s template, or a template of the runner's own), or job threads."""
    if settings.job_isolation == "thread":
        from neops_worker.worker.threads import ThreadRunner

        return ThreadRunner(settings)
    from neops_worker.worker.jobprocess.supervisor import ProcessRunner

    return ProcessRunner(settings, observer, template, host)


def make_client(settings: Settings, transport: Transport | None = None) -> EngineClient:
    """The engine client as configured (base URL, timeouts, REGISTER_REVERSIBLE, TLS, bearer token).

    ``transport`` is for tests.
    """
    token = settings.blackboard_token.get_secret_value() if settings.blackboard_token else None
    return EngineClient(
        settings.base_url,
        timeout=settings.api_request_timeout,
        poll_timeout=settings.effective_poll_timeout,
        reversible=settings.register_reversible,
        token=token,
        verify=tls_verify(settings.blackboard_ca_bundle),
        user_agent=f"neops-worker/{__version__}",
        transport=transport,
        registration_concurrency=settings.registration_concurrency,
    )


@dataclass(frozen=True)
class Composition:
    """The daemon's slots and what they serve with: the engine client, the template, companion services."""

    slots: Slots
    client: EngineClient
    #: The one template process all slots fork their job processes from (None: job threads).
    host: TemplateHost | None
    extensions: list[contextlib.AbstractAsyncContextManager[object]]

    @property
    def worker(self) -> Worker:
        """The first slot (the only one unless WORKER_SLOTS > 1)."""
        return self.slots.workers[0]

    @contextlib.asynccontextmanager
    async def started(self) -> AsyncIterator[Slots]:
        """Enter the extensions, the template, the runners; leave them in reverse, the client last."""
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(self.client.aclose)
            for extension in self.extensions:
                await stack.enter_async_context(extension)
            # Entered last, left first: no job process outlives the daemon or its health listener.
            if self.host is not None:
                await stack.enter_async_context(self.host)
            await stack.enter_async_context(self.slots.runners())
            yield self.slots


def compose(
    settings: Settings, *, transport: Transport | None = None, template: Launched | None = None
) -> Composition:
    """Settings -> client, observers, template, WORKER_SLOTS slots, extensions; nothing is started yet."""
    client = make_client(settings, transport)
    metrics = None
    if settings.health_port is not None:
        from neops_worker.worker.observers.metrics import WorkerMetrics

        metrics = WorkerMetrics(slots=settings.worker_slots)
    host = None
    if settings.job_isolation == "process":
        from neops_worker.worker.jobprocess.supervisor import TemplateHost

        host = TemplateHost(settings, template)

    def runner(number: int, observer: WorkerObserver) -> JobRunner:
        return make_runner(settings, observer, host=host)

    slots = Slots(
        settings,
        client,
        runner,
        version=__version__,
        observers=extra_observers(settings),
        slot_observer=metrics.slot if metrics else None,
    )
    if metrics is not None:
        metrics.registered_slots = slots.registered
    return Composition(slots, client, host, extensions(settings, slots, metrics))


async def _serve(settings: Settings, template: Launched | None) -> int:
    """Serve until stopped; a fatal error leaves (its companions stopped) for ``run_worker`` to print."""
    composition = compose(settings, template=template)
    async with capture_signals(composition.slots.request_stop), composition.started() as slots:
        # Returns only after a complete drain; an abandoned job raises ShutdownTimeoutError.
        await slots.serve()
    log.info("Worker stopped")
    return EXIT_OK


def extra_observers(settings: Settings) -> list[WorkerObserver]:
    """Observers of every slot chosen by the environment (service manager notifications)."""
    from neops_worker.worker.observers.sdnotify import SystemdObserver

    systemd = SystemdObserver.from_environ(os.environ)
    return [systemd] if systemd.notifier.enabled else []


def extensions(
    settings: Settings, slots: Slots, metrics: WorkerMetrics | None
) -> list[contextlib.AbstractAsyncContextManager[object]]:
    """Companion services that live as long as the daemon (the health listener)."""
    if settings.health_port is None or metrics is None:
        return []
    from neops_worker.worker.observers.health import ENGINE_SILENCE_INTERVALS, HealthServer

    limit_s = ENGINE_SILENCE_INTERVALS * settings.heartbeat_interval
    return [HealthServer(slots, metrics, settings.health_host, settings.health_port, limit_s)]


@contextlib.asynccontextmanager
async def capture_signals(on_signal: Callable[[str], None]) -> AsyncIterator[None]:
    """Inside, SIGTERM/SIGINT only call ``on_signal`` (with the signal's name); after, the old handlers."""
    loop = asyncio.get_running_loop()
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    try:
        for sig in STOP_SIGNALS:
            # The loop's own handlers: ``on_signal`` runs as a callback of the loop, never mid-step.
            loop.add_signal_handler(sig, on_signal, sig.name)
        yield
    finally:
        for sig, handler in previous.items():
            loop.remove_signal_handler(sig)
            # Removing leaves the default action; put back whatever held the signal before, as uvicorn
            # does (None: a handler not installed from Python, which cannot be put back).
            if handler is not None:
                signal.signal(sig, handler)


def run_one_job(settings: Settings, job: JobDefinition) -> JobOutcome:
    """Run ``job`` exactly as the configured worker would (``exec``): in a job process, or a thread."""

    template = early_template(settings)

    async def run() -> JobOutcome:
        async with make_runner(settings, Observers(), template) as runner:
            await runner.catalog()
            return await runner.run(job)

    return asyncio.run(run())
