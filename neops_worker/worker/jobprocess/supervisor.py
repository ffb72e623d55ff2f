"""``JOB_ISOLATION=process``: the daemon's side of the template and its job processes.

The daemon never imports a block. It starts the template process (which discovers the blocks and
sends their registration bodies), asks it to fork one job process, and hands that process one job
at a time over a socket pair; what the process prints arrives on a pipe and is logged with the
job's fields. The daemon alone decides a job's end:

* a result came: pushed as it is; the process is kept, or replaced before the next poll when it
  reached ``MAX_JOBS_PER_PROCESS``, grew past ``MAX_MEMORY_PER_PROCESS`` or its block called
  ``sys.exit``;
* the channel closed without a result: the process died; the failed result says how
  (``exited with status 4``, ``killed by SIGSEGV``) with its last output line;
* its time ran out (``JOB_TIMEOUT``, or unset, what the engine's stuck-job timeout leaves to report
  it in time), or the drain gave up on the job: the process is stopped (SIGTERM after a ``stop``
  message, SIGKILL after ``KILL_GRACE_S``) and no job is claimed until it is gone.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from types import TracebackType

from neops_worker import tracing
from neops_worker.engine.wire import JobDefinition, JobResult, RegisterFunctionBlock, failed_result
from neops_worker.errors import DiscoveryError
from neops_worker.observability import worker_identity
from neops_worker.scrub import job_secret_values, job_secrets
from neops_worker.settings import Settings
from neops_worker.worker.events import WorkerObserver
from neops_worker.worker.jobprocess import osproc
from neops_worker.worker.jobprocess.deaths import Death
from neops_worker.worker.jobprocess.frames import (
    STOP_FRAME,
    FrameProtocol,
    Message,
    encode,
    read_frame,
    send_with_fds,
)
from neops_worker.worker.jobprocess.launch import Launched, spawn_template, wait_for_exit
from neops_worker.worker.jobprocess.logs import replay
from neops_worker.worker.jobprocess.output import Output
from neops_worker.worker.outcome import JobOutcome, Outcome
from neops_worker.worker.runner import Catalog, report_problems

log = logging.getLogger("neops_worker.worker.jobprocess")

#: Between the SIGTERM that asks a job process to stop and the SIGKILL that makes it.
KILL_GRACE_S = 2.0
#: A process still there this long after SIGKILL is stuck in the kernel: the worker is wedged.
KILL_WAIT_S = 10.0
#: How long a job process asked to go (channel closed) may take before it is killed.
RETIRE_WAIT_S = 5.0
FORK_TIMEOUT_S = 10.0
#: Lines of a job's output kept for the result of a crash (a fatal error's dump is long)...
OUTPUT_TAIL = 80
#: ...and repeated in its log line.
LOGGED_TAIL = 20
#: How long a job's result may wait for the lines its block printed before it to be logged.
OUTPUT_SETTLE_S = 0.5
#: Without a job process for this long (the template keeps failing), ``/livez`` fails.
WEDGED_AFTER_S = 60.0
#: The pause after a job process could not be started, doubling with each failure in a row up to...
RESTART_PAUSE_S = 1.0
#: ...this.
RESTART_PAUSE_MAX_S = 30.0


class TemplateGone(Exception):
    """The template process is not there to fork from."""


class TemplateProcess:
    """The daemon's handle on the template process: start, control messages, fork requests."""

    def __init__(
        self,
        settings: Settings,
        on_exit: Callable[[int, int | None], None],
        launched: Launched | None = None,
    ) -> None:
        self.settings = settings
        self._on_exit = on_exit
        #: Forked at the daemon's start (``launch.fork_template``); otherwise spawned by ``start``.
        self._launched = launched
        self.pid: int | None = None
        self._exit: asyncio.Future[int] | None = None
        self._sender: socket.socket | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._discovered: asyncio.Future[Message] | None = None
        #: The blocks found so far, in order; each also goes to those following the discovery.
        self.blocks: list[RegisterFunctionBlock] = []
        self._followers: list[Callable[[RegisterFunctionBlock], None]] = []
        self._forks: asyncio.Queue[int | None] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False

    @property
    def alive(self) -> bool:
        """Started and still answering."""
        return self._exit is not None and not self._exit.done() and self._sender is not None

    async def start(self) -> None:
        """Take the template forked at start, or spawn one; it discovers the blocks at once."""
        launched, self._launched = self._launched or spawn_template(self.settings), None
        self.pid = launched.pid
        self._exit = asyncio.ensure_future(wait_for_exit(launched.pid))
        self._sender = socket.socket(fileno=os.dup(launched.control.fileno()))
        reader, self._writer = await asyncio.open_unix_connection(sock=launched.control)
        self._discovered = asyncio.get_running_loop().create_future()
        self._forks = asyncio.Queue()
        self._tasks = [
            asyncio.ensure_future(self._read_control(reader)),
            asyncio.ensure_future(_printed(await Output.follow(launched.output_fd))),
        ]
        log.debug("Template process %d started", launched.pid)

    async def discovered(self, on_block: Callable[[RegisterFunctionBlock], None] | None = None) -> Message:
        """The template's ``discovered`` message; raises ``DiscoveryError`` if it died first.

        ``on_block`` is told each block found, those found so far at once and the others as they come;
        several may follow at once (the slots of one daemon).
        """
        assert self._discovered is not None
        if on_block is None:
            return await asyncio.shield(self._discovered)
        for block in self.blocks:
            on_block(block)
        self._followers.append(on_block)
        try:
            return await asyncio.shield(self._discovered)
        finally:
            self._followers.remove(on_block)

    async def fork(self) -> tuple[int, socket.socket, int]:
        """A new job process: its pid, the daemon's end of its socket, the read end of its output."""
        if not self.alive or self._sender is None:
            raise TemplateGone("the template process is not running")
        ours, theirs = socket.socketpair()
        out_r, out_w = os.pipe()
        try:
            send_with_fds(self._sender, {"t": "fork"}, [theirs.fileno(), out_w])
        except OSError as exc:
            ours.close()
            os.close(out_r)
            raise TemplateGone(f"the template process does not take requests ({exc})") from None
        finally:
            theirs.close()
            os.close(out_w)
        try:
            pid = await asyncio.wait_for(self._forks.get(), FORK_TIMEOUT_S)
        except BaseException:  # timed out, or cancelled by a stop: our ends would leak
            ours.close()
            os.close(out_r)
            raise
        if pid is None:
            ours.close()
            os.close(out_r)
            raise TemplateGone("the template process ended")
        return pid, ours, out_r

    async def _read_control(self, reader: asyncio.StreamReader) -> None:
        while (message := await read_frame(reader)) is not None:
            kind = message["t"]
            if kind == "log":
                replay(message, {})
            elif kind == "block":
                self._found(message["body"])
            elif kind == "discovered" and self._discovered and not self._discovered.done():
                self._discovered.set_result(message)
            elif kind == "forked":
                self._forks.put_nowait(int(message["pid"]))
            elif kind == "exited":
                self._on_exit(int(message["pid"]), int(message["status"]))
        await self._ended()

    def _found(self, body: dict[str, object]) -> None:
        block = RegisterFunctionBlock.model_validate(body)
        self.blocks.append(block)
        for follower in list(self._followers):
            follower(block)

    async def _ended(self) -> None:
        """The template hung up: it died (or is stopping); what it forked went with it."""
        status = await asyncio.shield(self._exit) if self._exit is not None else None
        self._close_sender()
        self._forks.put_nowait(None)
        if self._discovered is not None and not self._discovered.done():
            if self._closing:  # nobody waits for a discovery the daemon itself cut short
                self._discovered.cancel()
            else:
                self._discovered.set_exception(
                    DiscoveryError([f"the template process ended during discovery (exit status {status})"])
                )
        if not self._closing and self._served():
            self._on_exit(-1, status)

    def _served(self) -> bool:
        """Discovery had succeeded: the template was serving forks when it ended."""
        found = self._discovered
        if found is None or found.cancelled():
            return False
        return found.exception() is None and not found.result().get("error")

    def _close_sender(self) -> None:
        if self._sender is not None:
            self._sender.close()
            self._sender = None

    async def close(self) -> None:
        """Hang up; the template kills its children and exits (killed if it takes too long)."""
        self._closing = True
        self._close_sender()
        if self._writer is not None:
            self._writer.close()
        if self._launched is not None:  # forked at start but never used
            self._launched.close()
        if self._exit is not None and self.pid is not None and not self._exit.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._exit), RETIRE_WAIT_S)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
                await self._exit
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class JobProcess:
    """One forked job process, as the daemon sees it."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.fields: dict[str, str] = {}
        self.tail: collections.deque[str] = collections.deque(maxlen=OUTPUT_TAIL)
        self.killed = False
        self.jobs_done = 0
        self.exited: asyncio.Future[Death] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        #: Where the ``result`` of the job in hand goes (None: the channel closed first).
        self._result: asyncio.Future[Message | None] | None = None
        self._closed = False
        self._output: Output | None = None

    @classmethod
    async def attach(cls, pid: int, sock: socket.socket, out_fd: int) -> JobProcess:
        """Take a fresh fork's socket (frames) and output pipe (lines) onto the event loop."""
        process = cls(pid)
        loop = asyncio.get_running_loop()
        process.transport, _ = await loop.create_unix_connection(
            lambda: FrameProtocol(process._on_message, process._on_close), sock=sock
        )
        process._output = await Output.follow(out_fd, process.fields, process.tail)
        return process

    async def run(self, job: JobDefinition, timeout: float, rss: bool) -> Message | None:
        """Hand over ``job``; its ``result`` message (``rss``: with the RSS after it), or None if it died.

        The frame carries what a block's job meta says beyond the job: the worker's id and name now
        (they change when it registers again) and the deadline, this process's ``timeout`` from now;
        and, when tracing, the job span's W3C ``traceparent`` for the block's own spans to nest under.
        """
        if self._closed or self.transport is None:
            return None
        result: asyncio.Future[Message | None] = asyncio.get_running_loop().create_future()
        self._result = result
        deadline = time.monotonic() + timeout if timeout else None
        frame = {
            "t": "run",
            "job": job.to_wire(),
            "rss": rss,
            "worker": worker_identity(),
            "deadline": deadline,
            "trace": tracing.carrier(),
        }
        self.transport.write(encode(frame))
        try:
            async with asyncio.timeout(timeout or None):
                return await result
        finally:
            self._result = None

    def _on_message(self, message: Message) -> None:
        if message["t"] == "log":
            replay(message, self.fields)
        elif message["t"] == "result" and self._result is not None and not self._result.done():
            self._result.set_result(message)

    def _on_close(self) -> None:
        self._closed = True
        if self._result is not None and not self._result.done():
            self._result.set_result(None)

    async def wait_exit(self, timeout: float) -> Death | None:
        """How it ended, once it has; None if it is still there after ``timeout``."""
        try:
            return await asyncio.wait_for(asyncio.shield(self.exited), timeout)
        except TimeoutError:
            return None

    async def output_drained(self, timeout: float) -> None:
        """Wait (a little) for the last lines it printed, until its output ends (it died)."""
        if self._output is not None:
            await self._output.drained(timeout)

    async def output_settled(self, timeout: float) -> None:
        """Wait (a little) until what it printed before its result has been logged, with the job's fields."""
        if self._output is not None:
            await self._output.settled(timeout)

    def send_stop(self) -> None:
        """Tell it the coming SIGTERM is meant (its handler checks for this message)."""
        if self.transport is not None:
            with contextlib.suppress(Exception):
                self.transport.write(STOP_FRAME)

    def hang_up(self) -> None:
        """Close its channel: an idle job process exits on its own."""
        if self.transport is not None:
            self.transport.close()

    async def forget(self) -> None:
        """Drop its channel and output once it is gone."""
        self.hang_up()
        await self.output_drained(0.5)
        if self._output is not None:
            self._output.close()


class TemplateHost:
    """The daemon's one template process, shared by the job runners of all its slots.

    The blocks are discovered once and their problems logged once, whichever slot asks first; each
    slot forks job processes of its own (one fork request at a time) and hears of their deaths. A
    template that died is started again once, by the first slot that needs a job process then.
    """

    def __init__(self, settings: Settings, launched: Launched | None = None) -> None:
        self.settings = settings
        self.process = TemplateProcess(settings, self._on_exit, launched)
        self._listeners: list[Callable[[int, int | None], None]] = []
        self._lock = asyncio.Lock()
        self._reported = False
        self._catalog: Catalog | None = None

    async def __aenter__(self) -> TemplateHost:
        await self.process.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.process.close()

    def listen(self, on_exit: Callable[[int, int | None], None]) -> None:
        """Tell ``on_exit`` of every death the template reports (pid -1: the template itself)."""
        self._listeners.append(on_exit)

    def _on_exit(self, pid: int, status: int | None) -> None:
        if pid == -1:
            log.error("The template process ended (status %s); its job processes went with it", status)
        for listener in list(self._listeners):
            listener(pid, status)

    async def catalog(self, found: Callable[[RegisterFunctionBlock], None] | None = None) -> Catalog:
        """The template's discovery, its problems logged once; raises ``DiscoveryError``."""
        outcome = await self.process.discovered(found)
        if self._catalog is not None:
            return self._catalog
        if self._reported:
            raise DiscoveryError(list(outcome["error"]))
        self._reported = True
        problems = [(str(p["text"]), str(p.get("detail") or "")) for p in outcome["problems"]]
        report_problems(problems, self.settings.skip_broken_modules, outcome["error"])
        self._catalog = Catalog(self.process.blocks)  # one for every slot: the blocks are the same
        return self._catalog

    async def fork(self, observer: WorkerObserver) -> tuple[int, socket.socket, int]:
        """A new job process (a new template first, if it died: counted on ``observer``)."""
        async with self._lock:
            if not self.process.alive:
                await self._restart(observer)
            return await self.process.fork()

    async def _restart(self, observer: WorkerObserver) -> None:
        log.warning("Starting a new template process (blocks are imported again)")
        await self.process.close()
        self.process = TemplateProcess(self.settings, self._on_exit)
        await self.process.start()
        found = await self.process.discovered()
        if found["error"]:
            raise DiscoveryError(list(found["error"]))
        observer.job_process_restarted("template")


class ProcessRunner:
    """Runs every job in a job process forked from the template; see the module's docstring.

    Alone, the runner starts and stops a template of its own; the slots of one daemon share one
    ``host`` (entered and left by their owner, not by each runner).
    """

    def __init__(
        self,
        settings: Settings,
        observer: WorkerObserver,
        template: Launched | None = None,
        host: TemplateHost | None = None,
    ) -> None:
        self.settings = settings
        self.observer = observer
        self._owns_host = host is None
        self.host = host or TemplateHost(settings, template)
        self.host.listen(self._on_exit)
        self._procs: dict[int, JobProcess] = {}
        self._current: JobProcess | None = None
        self._retire: str | None = None
        self._dying: JobProcess | None = None
        self._trouble_since: float | None = None
        #: Start failures in a row: the pause before the next try grows with them.
        self._failures = 0
        self._forgetting: asyncio.Future[None] | None = None

    async def __aenter__(self) -> ProcessRunner:
        if self._owns_host:
            await self.host.__aenter__()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._current is not None:
            await self._retire_process(self._current, None)
        if self._owns_host:
            await self.host.__aexit__(kind, exc, tb)

    async def catalog(self, found: Callable[[RegisterFunctionBlock], None] | None = None) -> Catalog:
        """The template's discovery (once per daemon); raises ``DiscoveryError`` as thread mode does."""
        return await self.host.catalog(found)

    async def ready(self) -> None:
        """A job process is up and idle: retire a used-up one, wait out a dying one, fork."""
        if self._current is not None and self._retire is not None:
            await self._retire_process(self._current, self._retire)
        if self._dying is not None:
            await asyncio.wait({self._dying.exited})
            self._dying = None
        while self._current is None:
            await self._replace()

    def is_ready(self) -> bool:
        """An idle job process is there, to be kept, and none is dying."""
        return self._current is not None and self._retire is None and self._dying is None

    def wedged(self) -> str | None:
        """A process that survives SIGKILL, or no job process for ``WEDGED_AFTER_S``."""
        if self._dying is not None:
            return f"job process {self._dying.pid} does not go away after SIGKILL"
        if self._trouble_since is not None and time.monotonic() - self._trouble_since > WEDGED_AFTER_S:
            return f"no job process could be started for {time.monotonic() - self._trouble_since:.0f} s"
        return None

    async def run(self, job: JobDefinition) -> JobOutcome:
        """Run ``job`` in the job process; a crash, a timeout or a cancellation ends the process."""
        await self.ready()
        proc = self._current
        assert proc is not None
        proc.fields.update(job_id=job.job_id, function_block=job.function_block_id, job_type=job.type)
        started = time.perf_counter()
        try:
            with job_secrets(job_secret_values(job)):
                outcome = await self._run_in(proc, job, started)
                # Lines printed before the result still name the job and lose its secrets.
                await proc.output_settled(OUTPUT_SETTLE_S)
                return outcome
        finally:
            proc.fields.clear()

    async def _run_in(self, proc: JobProcess, job: JobDefinition, started: float) -> JobOutcome:
        tracing.job_process(proc.pid)
        try:
            # The RSS is read only when MAX_MEMORY_PER_PROCESS wants it: no /proc read per job otherwise.
            message = await proc.run(
                job, self.settings.effective_job_timeout, rss=bool(self.settings.max_memory_per_process)
            )
        except TimeoutError:
            await self._kill(proc, "timeout")
            limit = self.settings.job_timeout_text()
            log.error("Job %s exceeded %s; its job process %d was killed", job.job_id, limit, proc.pid)
            text = f"Job killed after {limit}"
            took = time.perf_counter() - started
            return JobOutcome(failed_result(job.job_id, text), "timeout", took, restart="timeout")
        except asyncio.CancelledError:
            log.error("Job %s abandoned: killing its job process %d", job.job_id, proc.pid)
            await asyncio.shield(self._kill(proc, "abandoned"))
            raise
        if message is None:
            return await self._crashed(proc, job, started)
        return self._finished(proc, job, message)

    async def _crashed(self, proc: JobProcess, job: JobDefinition, started: float) -> JobOutcome:
        death = await proc.wait_exit(KILL_WAIT_S) or Death(None)
        await proc.output_drained(1.0)
        last = _telling_line(proc.tail)
        how = death.describe()
        log.error(
            "Job %s: job process %d %s while running %s; starting a new one%s",
            job.job_id, proc.pid, how, job.function_block_id,
            "".join(f"\n  | {line}" for line in list(proc.tail)[-LOGGED_TAIL:]),
        )  # fmt: skip
        await self._gone(proc, "crash")
        message = f"The job process {how} while running the job" + (
            f"; last output: {last[:300]}" if last else ""
        )
        took = time.perf_counter() - started
        return JobOutcome(failed_result(job.job_id, message), "crashed", took, restart="crash")

    def _finished(self, proc: JobProcess, job: JobDefinition, message: Message) -> JobOutcome:
        outcome: Outcome = message["outcome"]
        proc.jobs_done += 1
        self._retire = self._retire_reason(proc, outcome, int(message.get("rss") or 0))
        result = JobResult.model_validate(message["result"])
        return JobOutcome(result, outcome, float(message["duration_s"]), restart=self._retire)

    def _retire_reason(self, proc: JobProcess, outcome: Outcome, rss: int) -> str | None:
        limit_jobs, limit_mib = self.settings.max_jobs_per_process, self.settings.max_memory_per_process
        if outcome == "exited":
            log.warning("Replacing job process %d: its block called sys.exit", proc.pid)
            return "sys_exit"
        if limit_mib and rss > limit_mib * 1024 * 1024:
            log.info(
                "Replacing job process %d: RSS %.0f MiB after the job, above MAX_MEMORY_PER_PROCESS (%g MiB)",
                proc.pid, rss / 1024 / 1024, limit_mib,
            )  # fmt: skip
            return "memory"
        if limit_jobs and proc.jobs_done >= limit_jobs:
            log.info(
                "Replacing job process %d after %d jobs (MAX_JOBS_PER_PROCESS)", proc.pid, proc.jobs_done
            )
            return "max_jobs"
        return None

    async def _replace(self) -> None:
        """Fork a new job process (starting a new template first if it died); pause longer each failure."""
        try:
            pid, sock, out_fd = await self.host.fork(self.observer)
        except (TemplateGone, TimeoutError, DiscoveryError, OSError) as exc:
            self._trouble_since = self._trouble_since or time.monotonic()
            self._failures += 1
            pause = min(RESTART_PAUSE_S * 2 ** (self._failures - 1), RESTART_PAUSE_MAX_S)
            self.observer.job_process_start_failed(str(exc))
            log.error(
                "Cannot start a job process (%s; %d failure(s) in a row); trying again in %g s",
                exc, self._failures, pause,
            )  # fmt: skip
            await asyncio.sleep(pause)
            return
        self._trouble_since, self._failures = None, 0
        proc = await JobProcess.attach(pid, sock, out_fd)
        self._procs[pid] = proc
        self._current = proc
        log.debug("Job process %d ready", pid)

    async def _kill(self, proc: JobProcess, reason: str) -> Death:
        """SIGTERM (announced), SIGKILL after the grace; the process is gone when this returns."""
        proc.killed = True
        proc.send_stop()
        osproc.kill_group(proc.pid, signal.SIGTERM)
        death = await proc.wait_exit(KILL_GRACE_S)
        if death is None:
            log.warning(
                "Job process %d still runs %g s after SIGTERM; sending SIGKILL", proc.pid, KILL_GRACE_S
            )
            osproc.kill_group(proc.pid, signal.SIGKILL)
            death = await proc.wait_exit(KILL_WAIT_S)
        if death is None:
            log.error("Job process %d does not go away after SIGKILL; no job until it does", proc.pid)
            self._dying = proc
            death = Death(None, killed_by_us=True)
        await self._gone(proc, reason)
        return death

    async def _retire_process(self, proc: JobProcess, reason: str | None) -> None:
        """Let an idle job process go (killed if it does not), counting ``reason`` as a restart."""
        self._retire = None
        proc.killed = True  # on purpose: not an unexpected death
        proc.hang_up()
        if await proc.wait_exit(RETIRE_WAIT_S) is None:
            await self._kill(proc, reason or "stop")
            return
        await self._gone(proc, reason)

    async def _gone(self, proc: JobProcess, reason: str | None) -> None:
        if self._current is proc:
            self._current = None
        await proc.forget()
        if reason is not None:
            self.observer.job_process_restarted(reason)

    def _on_exit(self, pid: int, status: int | None) -> None:
        """The template reported a death (``pid`` -1: the template itself ended)."""
        ended = list(self._procs.values()) if pid == -1 else [p for p in [self._procs.get(pid)] if p]
        for proc in ended:
            self._procs.pop(proc.pid, None)
            if not proc.exited.done():
                proc.exited.set_result(Death(None if pid == -1 else status, proc.killed))
            if proc is self._current and not proc.fields and not proc.killed:
                log.warning("Idle job process %d %s; a new one takes its place", proc.pid, _describe(proc))
                self._current = None
                self._forgetting = asyncio.ensure_future(proc.forget())


def _telling_line(tail: collections.deque[str]) -> str:
    """The output line that best says what happened: a fatal error's headline, else the last line."""
    lines = [line for line in tail if line.strip()]
    fatal = [line for line in lines if line.startswith("Fatal Python error")]
    return (fatal or lines or [""])[-1]


def _describe(proc: JobProcess) -> str:
    return proc.exited.result().describe() if proc.exited.done() else "ended"


async def _printed(output: Output) -> None:
    """Follow the template's output until it ends (what discovery printed, the template's last words)."""
    try:
        await asyncio.shield(output.lines.closed)
    finally:
        output.close()
