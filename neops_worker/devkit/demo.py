"""``neops_worker demo``: the local engine, a real worker process and a few sample jobs, in one command.

What it does, each step printed as it happens (the same lines with or without a terminal):

1. start the local engine (a development stand-in, not the production engine, speaking contract
   0.43.0b8) in this process, on a free loopback port, with a temporary SQLite file;
2. start the real worker, the ``neops_worker`` console script, on the bundled ``function_blocks/``;
3. queue the sample jobs and follow them (and the worker's own log) as the worker runs them, until
   their runs end: the engine retries the failing (pure) block, and answers the failed reversible
   block with a rollback job that the worker runs, so that run ends ``FAILED_SAFE``;
4. queue the slow job and, while it runs, send the worker SIGTERM: it must finish that job, push its
   result, unregister and exit 0;
5. print the results and exit 0 if every job ended as expected and the worker exited 0, else 1.
"""

from __future__ import annotations

import contextlib
import json
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from neops_worker.cli.support import fail_usage
from neops_worker.devkit.local_client._client import DevClient
from neops_worker.devkit.local_client._render import (
    db_update_count,
    job_state,
    kind_text,
    run_text,
    seconds,
    state_text,
)
from neops_worker.devkit.local_client._submit import final_attempt
from neops_worker.devkit.local_engine import EngineOptions, require_engine_deps
from neops_worker.devkit.local_engine.models import FINAL_RUN_STATES, DevJob, DevJobDetail, NewJob, RunState
from neops_worker.devkit.local_engine.process import start_worker
from neops_worker.errors import EXIT_FAILURE, EXIT_OK, EngineError

#: How long the slow sample job sleeps: long enough to send SIGTERM while it runs.
SLOW_SECONDS = 3.0
WORKER_NAME = "demo-worker"
#: The worker heartbeats this often, and the engine expects it.
HEARTBEAT_S = 2.0
TICK_S = 0.1
PACKAGE = "fb.examples.neops"
ROUTER = {"id": 1, "hostname": "edge-rtr-01", "softwareRelease": "17.6.5", "facts": {"site": "demo"}}


@dataclass(frozen=True)
class SampleJob:
    """One job the demo queues, and how it and its run should end."""

    label: str
    fb_id: str
    parameters: dict[str, Any]
    expect_success: bool
    context: dict[str, Any] = field(default_factory=dict)
    run_on: str = "global"
    entity_id: int | None = None
    #: How the run should end; the failed ones say whether the engine rolled something back.
    expect_run: RunState = "COMPLETED"
    #: The engine should answer the failure with a rollback job, and the worker run it successfully.
    expect_rollback: bool = False

    def body(self) -> NewJob:
        """The ``POST /_dev/jobs`` body."""
        return NewJob.model_validate(
            {
                "function_block_id": self.fb_id,
                "parameters": self.parameters,
                "context": self.context,
                "run_on": self.run_on,
                "entity_id": self.entity_id,
            }
        )


#: Queued together; the slow one (last) is queued once the others' runs have ended, so that it runs
#: alone when the worker gets SIGTERM, after every retry and rollback job of the others.
SAMPLE_JOBS = (
    SampleJob("echo", f"{PACKAGE}/echo:1.0.0", {"message": "hello from the demo"}, True),
    SampleJob(
        "device change",
        f"{PACKAGE}/set_software_release:1.0.0",
        {"software_release": "17.9.4a"},
        True,
        context={"devices": [ROUTER]},
        run_on="device",
        entity_id=1,
    ),
    SampleJob(
        "failing block",
        f"{PACKAGE}/fail:1.0.0",
        {"mode": "raise", "reason": "failing on purpose"},
        False,
        expect_run="FAILED_SAFE",  # a pure block: retried, then failed with nothing to undo
    ),
    SampleJob(
        "config change",
        f"{PACKAGE}/stage_config:1.0.0",
        # Relative to the worker's working directory, the demo's temporary one.
        {"directory": "staged", "lines": ["banner motd demo"], "fail_check": True},
        False,
        context={"devices": [ROUTER]},
        run_on="device",
        entity_id=1,
        expect_run="FAILED_SAFE",  # a reversible block: rolled back
        expect_rollback=True,
    ),
    SampleJob("slow block", f"{PACKAGE}/sleep:1.0.0", {"seconds": SLOW_SECONDS}, True),
)
SLOW = SAMPLE_JOBS[-1]


class DemoError(Exception):
    """The demo could not go on; the message says why."""


# --- where things are ---------------------------------------------------------------------------


def find_blocks_dir(given: Path | None) -> Path:
    """``--blocks``, else ``function_blocks/`` beside the package (a checkout), else in the working dir."""
    if given is not None:
        return given.resolve()
    checkout = Path(__file__).resolve().parents[2] / "function_blocks"
    for candidate in (checkout, Path.cwd() / "function_blocks"):
        if (candidate / "examples").is_dir():
            return candidate
    raise DemoError(
        "cannot find the bundled function_blocks/ directory (run the demo in the neops_worker checkout, "
        "or pass --blocks DIR)"
    )


def worker_settings(url: str, blocks: Path) -> dict[str, str]:
    """The demo worker's settings (the user's own are not inherited: see ``start_worker``)."""
    return {
        "URL_BLACKBOARD": url,
        "DIR_FUNCTION_BLOCKS": str(blocks),
        "WORKER_NAME": WORKER_NAME,
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
        "HEARTBEAT_INTERVAL": str(HEARTBEAT_S),
        "POLL_INTERVAL": "0.5",
        "POLL_MIN_INTERVAL": "0.05",
        "PYTHONUNBUFFERED": "1",
    }


# --- the worker process -------------------------------------------------------------------------


class DemoWorker:
    """The real worker as a child process; its JSON log lines are collected for display."""

    def __init__(self, settings: dict[str, str], cwd: Path) -> None:
        self._settings = settings
        self._cwd = cwd
        self._process: subprocess.Popen[str] | None = None
        self._reader = threading.Thread(target=self._read, name="demo-worker-log", daemon=True)
        self._lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []

    def start(self) -> int:
        """Start the process; its pid."""
        self._process = start_worker(self._settings, self._cwd, stdin=subprocess.DEVNULL)
        self._reader.start()
        return self._process.pid

    def _read(self) -> None:
        assert self._process is not None
        assert self._process.stdout is not None
        with self._process.stdout:  # closed at EOF: the worker is gone
            for line in self._process.stdout:
                self._lines.put(_parse_log_line(line))

    def new_records(self) -> list[dict[str, Any]]:
        """Log records that arrived since the last call."""
        records = []
        while True:
            try:
                records.append(self._lines.get_nowait())
            except queue.Empty:
                break
        self.seen.extend(records)
        return records

    def exit_code(self) -> int | None:
        """The exit code, None while it runs."""
        return None if self._process is None else self._process.poll()

    def terminate(self) -> None:
        """Send SIGTERM: the worker drains (finishes the job in hand) and exits."""
        if self._process is not None:
            self._process.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        """Make sure the process is gone (clean-up after a failure or Ctrl-C)."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(10)
        if self._reader.is_alive():
            self._reader.join(5)


def _parse_log_line(line: str) -> dict[str, Any]:
    """A JSON log record; anything else (a traceback line) as a record of its own."""
    try:
        record = json.loads(line)
    except ValueError:
        record = None
    if not isinstance(record, dict):
        return {"level": "INFO", "message": line.rstrip("\n"), "timestamp": None}
    return record


# --- showing progress ---------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Event:
    """Something to show, with the (wall-clock) time it happened."""

    at: float
    who: str = field(compare=False)
    text: Text = field(compare=False)


class Progress:
    """Prints one line per event, prefixed with the seconds since the demo started."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.started = time.time()

    def line(self, who: str, text: str | Text) -> None:
        """Show an event that happens now."""
        self.show([Event(time.time(), who, text if isinstance(text, Text) else Text(text))])

    def show(self, events: list[Event]) -> None:
        """``  1.2s  who     text`` for each event, oldest first."""
        for event in sorted(events):
            head = Text(f"{max(0.0, event.at - self.started):5.1f}s  {event.who:<7} ", style="dim")
            head.append_text(event.text)
            self.console.print(head, soft_wrap=True)


def worker_event(record: dict[str, Any]) -> Event | None:
    """A line of the worker's log, unless it is about one job (the job events say that better)."""
    message = str(record.get("message", ""))
    if record.get("job_id") or message.startswith("Processing "):
        return None
    style = {"WARNING": "yellow", "ERROR": "red", "CRITICAL": "red"}.get(str(record.get("level")), "cyan")
    return Event(_epoch(record.get("timestamp")) or time.time(), "worker", Text(message, style=style))


def job_event(label: str, job: DevJob) -> Event:
    """A job was created by the engine, claimed (running) or finished, at the time the engine recorded it."""
    text = Text(f"{label:<14} ")
    text.append_text(state_text(job_state(job)))
    if job.status == "pushed":
        text.append(f" in {seconds(job.duration_s)}: {job.result_message or ''}")
        return Event(_epoch(job.finished_at) or time.time(), "job", text)
    if job.status == "pending":  # only the jobs the engine creates are shown pending: retries, rollbacks
        text.append(f": {kind_text(job)}, created by the engine")
        return Event(_epoch(job.created_at) or time.time(), "engine", text)
    text.append(f" on {job.worker_name or job.worker_id}")
    return Event(_epoch(job.claimed_at) or time.time(), "job", text)


def job_label(sample: SampleJob, job: DevJob) -> str:
    """The sample's label, and what the job is in its run: ``failing block (attempt 2)``, ``(rollback)``."""
    if job.rollback_of is not None:
        return f"{sample.label} (rollback)"
    if job.attempt > 1:
        return f"{sample.label} (attempt {job.attempt})"
    return sample.label


def run_event(sample: SampleJob, jobs: list[DevJob]) -> Event:
    """A run ended, at the time its last job finished."""
    text = Text(f"{sample.label:<14} run ended ")
    text.append_text(run_text(jobs[-1]))
    finished = [at for job in jobs if (at := _epoch(job.finished_at)) is not None]
    return Event(max(finished, default=time.time()), "engine", text)


def _epoch(timestamp: Any) -> float | None:
    if not isinstance(timestamp, str):
        return None
    try:
        return datetime.fromisoformat(timestamp).timestamp()
    except ValueError:
        return None


# --- the run ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SampleOutcome:
    """How a sample job's run went: its last attempt, every job of the run, the rollback jobs."""

    sample: SampleJob
    last: DevJobDetail
    run: list[DevJob]
    rollbacks: list[DevJobDetail]

    @property
    def attempts(self) -> int:
        """How many times the job was tried (the engine retries a failed pure or idempotent block)."""
        return sum(job.rollback_of is None for job in self.run)

    @property
    def as_expected(self) -> bool:
        """The last attempt and the run ended as the sample says, and its rollback (if any) succeeded."""
        sample, last = self.sample, self.last
        ended = last.status == "pushed" and (last.result_status == "success") == sample.expect_success
        rolled_back = any(job.result_status == "success" for job in self.rollbacks)
        return ended and last.run_state == sample.expect_run and rolled_back == sample.expect_rollback


class Demo:
    """One run of the demo: the engine client, the worker, the queued runs and what has been shown of them."""

    def __init__(self, client: DevClient, worker: DemoWorker, progress: Progress, timeout_s: float) -> None:
        self.client = client
        self.worker = worker
        self.progress = progress
        self.deadline = time.monotonic() + timeout_s
        #: Submitted job id -> its sample, and run id -> its sample (retries and rollback jobs share it).
        self.ids: dict[str, SampleJob] = {}
        self.runs: dict[str, SampleJob] = {}
        self.shown: dict[str, str] = {}
        self.ended: set[str] = set()
        self.blocks_checked = False

    def submit(self, samples: tuple[SampleJob, ...]) -> None:
        """Queue the sample jobs, each a run of its own."""
        for sample in samples:
            job_id = self.client.add_job(sample.body())
            self.ids[job_id] = sample
            self.runs[self.client.job(job_id).run_id] = sample
            self.shown[job_id] = "pending"
            self.progress.line("submit", f"{sample.label:<14} {sample.fb_id}  job {job_id}")

    def tick(self) -> list[DevJob]:
        """Show new worker log lines, job state changes and ended runs; the demo's jobs."""
        events = [event for r in self.worker.new_records() if (event := worker_event(r)) is not None]
        jobs = [job for job in self.client.jobs() if job.run_id in self.runs]
        for job in jobs:
            state = job_state(job)
            if self.shown.get(job.job_id) != state:
                self.shown[job.job_id] = state
                events.append(job_event(job_label(self.runs[job.run_id], job), job))
        for run_id, run in _by_run(jobs).items():
            if run[-1].run_state in FINAL_RUN_STATES and run_id not in self.ended and len(run) > 1:
                self.ended.add(run_id)  # a run of one job says nothing its job's line does not
                events.append(run_event(self.runs[run_id], run))
        self.progress.show(events)
        return jobs

    def until_runs_end(self) -> None:
        """Follow the queued runs (their retries and rollback jobs too) until every one has ended."""
        while not all(run[-1].run_state in FINAL_RUN_STATES for run in _by_run(self.tick()).values()):
            self._check_alive()
            self._check_blocks()
            self._pause("the sample jobs' runs to end")

    def until_slow_job_started(self) -> None:
        """Follow the jobs until the worker has started the slow one."""
        slow_id = next(job_id for job_id, sample in self.ids.items() if sample is SLOW)
        while not any(record.get("job_id") == slow_id for record in self.worker.seen):
            self.tick()
            self._check_alive()
            self._pause("the worker to start the slow job")

    def until_worker_exits(self) -> int:
        """Follow the drain until the worker exits; its exit code."""
        while (code := self.worker.exit_code()) is None:
            self.tick()
            self._pause("the worker to drain and exit")
        time.sleep(TICK_S)  # the log reader may still hold the last lines
        self.tick()
        return code

    def results(self) -> list[SampleOutcome]:
        """Every sample job's run, with its last attempt and rollback jobs in full."""
        runs = _by_run([job for job in self.client.jobs() if job.run_id in self.runs])
        outcomes = []
        for job_id, sample in self.ids.items():
            run = runs[self.client.job(job_id).run_id]
            last = self.client.job(final_attempt(run, job_id).job_id)
            rollbacks = [self.client.job(job.job_id) for job in run if job.rollback_of is not None]
            outcomes.append(SampleOutcome(sample, last, run, rollbacks))
        return outcomes

    def _check_alive(self) -> None:
        code = self.worker.exit_code()
        if code is not None:
            time.sleep(TICK_S)  # the log reader may still hold the last lines
            self.tick()
            raise DemoError(f"the worker exited with code {code} before it ran the jobs (see its log above)")

    def _check_blocks(self) -> None:
        """Once the worker has registered its blocks, the sample jobs' blocks must be among them."""
        if self.blocks_checked or not any(
            str(record.get("message", "")).startswith("Registered ") for record in self.worker.seen
        ):
            return
        self.blocks_checked = True
        served = {fb_id for worker in self.client.workers() for fb_id in worker.function_blocks}
        missing = sorted({sample.fb_id for sample in SAMPLE_JOBS} - served)
        if missing:
            raise DemoError(
                f"the worker does not serve {', '.join(missing)}; "
                "pass the bundled function_blocks/ directory with --blocks"
            )

    def _pause(self, what: str) -> None:
        if time.monotonic() > self.deadline:
            raise DemoError(f"timed out waiting for {what}")
        time.sleep(TICK_S)


def _by_run(jobs: list[DevJob]) -> dict[str, list[DevJob]]:
    """The jobs grouped by run, in queue order."""
    runs: dict[str, list[DevJob]] = {}
    for job in jobs:
        runs.setdefault(job.run_id, []).append(job)
    return runs


def run_demo(blocks: Path, console: Console, timeout_s: float = 60.0) -> int:
    """Run the whole demo; 0 if every job ended as expected and the worker drained and exited 0."""
    from neops_worker.devkit.local_engine import LocalEngine

    progress = Progress(console)
    console.print(
        Text.from_markup(
            "[bold]neops_worker demo[/]: a local engine (development only, [bold]not[/] the production "
            f"engine), one real worker process, {len(SAMPLE_JOBS)} sample jobs."
        )
    )
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="neops-demo-")))
        options = EngineOptions(heartbeat_interval_s=HEARTBEAT_S)
        engine = stack.enter_context(LocalEngine(tmp / "engine.sqlite3", options=options))
        client = stack.enter_context(DevClient(engine.url))
        progress.line(
            "engine", f"listening on {engine.url}, contract {options.contract} (temporary SQLite database)"
        )
        with _running_worker(engine.url, blocks, tmp, progress) as worker:
            demo = Demo(client, worker, progress, timeout_s)
            code = _drive(demo, console)
        outcomes = demo.results()
    console.print()
    console.print(results_table(outcomes))
    return _verdict(console, outcomes, code)


def _drive(demo: Demo, console: Console) -> int:
    """Run the jobs to the end of their runs, then the slow one with a SIGTERM; the worker's exit code."""
    with console.status("Running the sample jobs..."):
        demo.submit(SAMPLE_JOBS[:-1])
        demo.until_runs_end()
        demo.submit((SLOW,))
        demo.until_slow_job_started()
        demo.progress.line(
            "signal", "SIGTERM to the worker while the slow block runs: it should finish it, then exit 0"
        )
        demo.worker.terminate()
        code = demo.until_worker_exits()
    style = "green" if code == EXIT_OK else "red"
    demo.progress.line("worker", Text(f"exited with code {code}", style=f"bold {style}"))
    return code


@contextlib.contextmanager
def _running_worker(url: str, blocks: Path, cwd: Path, progress: Progress) -> Iterator[DemoWorker]:
    """The demo worker, started; killed on the way out if it still runs (a failure, Ctrl-C)."""
    worker = DemoWorker(worker_settings(url, blocks), cwd)
    pid = worker.start()
    progress.line("worker", f"started {WORKER_NAME} (pid {pid}) on {blocks}")
    try:
        yield worker
    finally:
        worker.stop()


def results_table(outcomes: list[SampleOutcome]) -> Table:
    """One row per sample job (its last attempt), and one per rollback job the engine created."""
    table = Table(title="Results", title_justify="left", caption=f"blocks of package {PACKAGE}")
    for name in ("Job", "Block", "Outcome", "Expected", "Run", "Duration", "dbUpdates", "Message"):
        table.add_column(name, overflow="fold", no_wrap=name in ("Expected", "Run", "Duration"))
    for outcome in outcomes:
        sample, last = outcome.sample, outcome.last
        state = state_text(job_state(last))
        if outcome.attempts > 1:
            state.append(f" after {outcome.attempts} attempts")
        expected = "success" if sample.expect_success else "failed"
        table.add_row(*_row(sample.label, last, state, expected))
        for job in outcome.rollbacks:
            table.add_row(*_row(f"{sample.label}: rollback", job, state_text(job_state(job)), "success"))
    return table


def _row(label: str, job: DevJobDetail, outcome: Text, expected: str) -> tuple[str | Text, ...]:
    return (
        f"{label}\n{job.job_id[:8]}",
        job.function_block_id.removeprefix(f"{PACKAGE}/"),
        outcome,
        expected,
        run_text(job),
        seconds(job.duration_s),
        str(db_update_count(job)),
        escape(job.result_message or ""),
    )


def _verdict(console: Console, outcomes: list[SampleOutcome], worker_code: int) -> int:
    """The closing line and the exit code."""
    wrong = [outcome.sample.label for outcome in outcomes if not outcome.as_expected]
    if not wrong and worker_code == EXIT_OK:
        console.print(
            Text(
                f"Demo OK: all {len(outcomes)} jobs ended as expected; the engine retried the failing block "
                "and rolled back the config change (FAILED_SAFE); the worker finished the slow job after "
                "SIGTERM, pushed its result, unregistered and exited 0.",
                style="bold green",
            )
        )
        console.print(Text(_TRY_IT, style="dim"))
        return EXIT_OK
    problems = [f"not as expected: {', '.join(wrong)}"] if wrong else []
    if worker_code != EXIT_OK:
        problems.append(f"the worker exited with code {worker_code}")
    console.print(Text(f"Demo FAILED: {'; '.join(problems)}.", style="bold red"))
    return EXIT_FAILURE


_TRY_IT = """Try it by hand from the checkout, each in a terminal of its own:
  uv run neops_worker engine        # the local engine on 127.0.0.1:3030; its state persists (--fresh: empty)
  uv run neops_worker               # a worker on function_blocks/
  uv run neops_worker submit echo --param message=hi --wait
  uv run neops_worker jobs          # and: uv run neops_worker workers
  uv run neops_worker submit --rollback-of JOB --wait   # roll a failed reversible job back again"""


# --- the command --------------------------------------------------------------------------------

BlocksOption = Annotated[
    Path | None,
    typer.Option(
        "--blocks",
        help="The bundled function_blocks/ directory (found by itself in a checkout).",
        file_okay=False,
        exists=True,
    ),
]
TimeoutOption = Annotated[float, typer.Option("--timeout", min=1, help="Give up after this many seconds.")]


def demo_command(blocks: BlocksOption = None, timeout: TimeoutOption = 60.0) -> None:
    """Run the local engine, a real worker and sample jobs; SIGTERM the worker mid-job; show the results."""
    try:
        require_engine_deps()
        found = find_blocks_dir(blocks)
    except (ImportError, DemoError) as exc:
        raise fail_usage(str(exc)) from None
    # Without a terminal (CI logs) lines do not wrap, so give the tables room.
    console = Console(file=sys.stdout, soft_wrap=False, width=None if sys.stdout.isatty() else 120)
    try:
        code = run_demo(found, console, timeout)
    except (DemoError, EngineError) as exc:
        console.print(Text(f"Demo FAILED: {exc}", style="bold red"))
        code = EXIT_FAILURE
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add the ``demo`` command to the ``neops_worker`` app."""
    app.command("demo")(demo_command)


__all__ = [
    "SAMPLE_JOBS",
    "DemoWorker",
    "SampleJob",
    "SampleOutcome",
    "find_blocks_dir",
    "register",
    "run_demo",
]
