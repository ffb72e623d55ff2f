"""The composition root: settings -> logging -> job runner -> client -> Worker; signals; exit codes.

``compose`` builds a ready-to-serve worker from the settings (client, observers, job runner,
extensions), and ``Composition.started`` starts and stops its companions in a fixed order. The
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

if TYPE_CHECKING:
    from neops_worker.engine.exchange import Transport
    from neops_worker.worker.jobprocess.launch import Launched

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


def make_runner(settings: Settings, observer: WorkerObserver, template: Launched | None = None) -> JobRunner:
    """Job processes (from ``template``, if one was forked early), or job threads in this process."""
    if settings.job_isolation == "thread":
        from neops_worker.worker.threads import ThreadRunner

        return ThreadRunner(settings)
    from neops_worker.worker.jobprocess.supervisor import ProcessRunner

    return ProcessRunner(settings, observer, template)


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
    )


@dataclass(frozen=True)
class Composition:
    """A worker and what it serves with: its engine client, job runner and companion services."""

    worker: Worker
    client: EngineClient
    runner: JobRunner
    extensions: list[contextlib.AbstractAsyncContextManager[object]]

    @contextlib.asynccontextmanager
    async def started(self) -> AsyncIterator[Worker]:
        """Enter the extensions, then the runner; on the way out the reverse, the client closed last."""
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(self.client.aclose)
            for extension in self.extensions:
                await stack.enter_async_context(extension)
            # Entered last, left first: no job process outlives the worker or its health listener.
            await stack.enter_async_context(self.runner)
            yield self.worker


def compose(
    settings: Settings, *, transport: Transport | None = None, template: Launched | None = None
) -> Composition:
    """Settings -> client, observers, job runner, Worker, extensions; nothing is started yet."""
    client = make_client(settings, transport)
    observers = Observers(extra_observers(settings))
    runner = make_runner(settings, observers, template)
    worker = Worker(settings, client, runner, version=__version__, observers=observers)
    return Composition(worker, client, runner, extensions(settings, worker))


async def _serve(settings: Settings, template: Launched | None) -> int:
    """Serve until stopped; a fatal error leaves (its companions stopped) for ``run_worker`` to print."""
    composition = compose(settings, template=template)
    async with capture_signals(composition.worker.request_stop), composition.started() as worker:
        # Returns only after a complete drain; an abandoned job raises ShutdownTimeoutError.
        await worker.serve()
    log.info("Worker stopped")
    return EXIT_OK


def extra_observers(settings: Settings) -> list[WorkerObserver]:
    """Observers chosen by the settings (metrics, service manager notifications)."""
    from neops_worker.worker.observers.sdnotify import SystemdObserver

    observers: list[WorkerObserver] = []
    systemd = SystemdObserver.from_environ(os.environ)
    if systemd.notifier.enabled:
        observers.append(systemd)
    if settings.health_port is not None:
        from neops_worker.worker.observers.metrics import WorkerMetrics

        observers.append(WorkerMetrics())
    return observers


def extensions(settings: Settings, worker: Worker) -> list[contextlib.AbstractAsyncContextManager[object]]:
    """Companion services that live as long as the worker (the health listener)."""
    if settings.health_port is None:
        return []
    from neops_worker.worker.observers.health import ENGINE_SILENCE_INTERVALS, HealthServer
    from neops_worker.worker.observers.metrics import WorkerMetrics

    metrics = next(o for o in worker.observers.observers if isinstance(o, WorkerMetrics))
    limit_s = ENGINE_SILENCE_INTERVALS * settings.heartbeat_interval
    return [HealthServer(worker, metrics, settings.health_host, settings.health_port, limit_s)]


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
