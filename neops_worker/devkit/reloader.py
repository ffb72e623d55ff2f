"""``neops_worker run --reload``: a supervisor that restarts the worker when a block file changes.

For block authors, like ``arq --watch`` or ``taskiq --reload``. The worker runs as a child process,
so each start imports the block modules afresh, while this process watches the directories of
``DIR_FUNCTION_BLOCKS``. On a change it stops the child as an operator would, with one SIGTERM:
the worker finishes the job in hand, pushes its result and unregisters. Then a new child starts.
A child that exits on its own (a block that does not import, say) is started again at the next
change.

Signals: the child runs in a process group of its own, so a terminal's Ctrl-C reaches this process
only, which forwards each SIGINT or SIGTERM it gets as one SIGTERM. The first lets the worker drain;
a second makes it abandon the job, exactly as when the worker runs on its own. On Linux the child
is also sent SIGTERM if this process dies.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType

import watchfiles

from neops_worker.errors import EXIT_OK, EXIT_USAGE
from neops_worker.worker.jobprocess.osproc import die_with_parent

log = logging.getLogger("neops_worker.reload")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
#: Milliseconds the watcher waits without a change before the loop looks at signals and the child.
TICK_MS = 200
#: Seconds between checks while waiting for a stopping child.
WAIT_STEP_S = 0.1


def run_reloader(arguments: Sequence[str], env: Mapping[str, str], directories: Sequence[str]) -> int:
    """Run ``neops_worker ARGUMENTS`` as a child, restarted on each change below ``directories``."""
    paths = [Path(directory).resolve() for directory in directories if Path(directory).is_dir()]
    if not paths:
        log.error("Reload: none of DIR_FUNCTION_BLOCKS is a directory (%s)", ", ".join(directories))
        return EXIT_USAGE
    return Reloader(child_command(arguments), env, paths).run()


def child_command(arguments: Sequence[str]) -> list[str]:
    """The command line of a worker child: this Python, :func:`run_child`, then ``arguments``."""
    return [
        sys.executable,
        "-c",
        "from neops_worker.devkit.reloader import run_child; run_child()",
        *arguments,
    ]


def run_child() -> None:
    """Entry point of a worker child: it dies with the supervisor, then runs ``neops_worker`` as given."""
    die_with_parent(signal.SIGTERM)  # the supervisor gone, the worker drains and unregisters
    from neops_worker.cli import main

    sys.argv = ["neops_worker", *sys.argv[1:]]
    main()


class Reloader:
    """Runs the worker as a child process and restarts it when a watched file changes."""

    def __init__(self, command: Sequence[str], env: Mapping[str, str], paths: Sequence[Path]) -> None:
        self.command = list(command)
        self.env = dict(env)
        self.paths = list(paths)
        self.stop_requested = threading.Event()
        self.exit_code = EXIT_OK
        self._child: subprocess.Popen[bytes] | None = None
        self._signals = 0
        self._terms_sent = 0

    def run(self) -> int:
        """Start the worker, restart it on each change, stop it on SIGTERM or SIGINT; its last exit code."""
        logging.getLogger("watchfiles").setLevel(logging.WARNING)  # it would repeat each change
        with _signals_queued(self._on_signal):
            log.info("Reload: watching %s", ", ".join(map(str, self.paths)))
            self._start()
            for changes in self._changes():
                self._notice_exit()
                if changes and not self.stop_requested.is_set():
                    self._restart(changes)
            self._stop()
        return self.exit_code

    def _changes(self) -> Iterator[set[tuple[watchfiles.Change, str]]]:
        """Batches of changed files; an empty batch every tick; ends when a stop is requested."""
        return watchfiles.watch(
            *self.paths,
            stop_event=self.stop_requested,
            rust_timeout=TICK_MS,
            yield_on_timeout=True,
            raise_interrupt=False,
        )

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        """Only count the signal; the loop forwards it to the child."""
        self._signals += 1
        self.stop_requested.set()

    def _start(self) -> None:
        self._terms_sent = 0
        self._child = subprocess.Popen(self.command, env=self.env, process_group=0)
        log.info("Reload: worker started (pid %d)", self._child.pid)

    def _notice_exit(self) -> None:
        """Report a child that exited on its own; the next change starts a new one."""
        if self._child is None or self._child.poll() is None:
            return
        self.exit_code = self._child.returncode
        self._child = None
        if not self.stop_requested.is_set():
            log.warning(
                "Reload: the worker exited with code %d; it starts again at the next change", self.exit_code
            )

    def _restart(self, changes: set[tuple[watchfiles.Change, str]]) -> None:
        changed = _describe(changes)
        if self._child is None:
            log.info("Reload: %s changed; starting the worker", changed)
        else:
            log.info("Reload: %s changed; restarting the worker once the job in hand is done", changed)
            self._wait_for_exit()
        _drop_bytecode(changes)
        if not self.stop_requested.is_set():  # a stop during the drain: do not start again
            self._start()

    def _stop(self) -> None:
        if self._child is not None:
            log.info("Reload: stopping the worker")
            self._wait_for_exit()
        log.info("Reload: stopped")

    def _wait_for_exit(self) -> None:
        """SIGTERM the child (once, plus once per further stop signal) and wait until it has exited."""
        child = self._child
        if child is None:
            return
        while True:
            while self._terms_sent < max(1, self._signals):
                self._terms_sent += 1
                child.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.exit_code = child.wait(WAIT_STEP_S)
                break
        self._child = None
        log.info("Reload: worker stopped (exit code %d)", self.exit_code)


def _describe(changes: set[tuple[watchfiles.Change, str]]) -> str:
    """``path``, ``path and 1 more file`` or ``path and N more files``."""
    paths = sorted({path for _, path in changes})
    more = len(paths) - 1
    return paths[0] if not more else f"{paths[0]} and {more} more file{'s' if more > 1 else ''}"


def _drop_bytecode(changes: set[tuple[watchfiles.Change, str]]) -> None:
    """Delete the cached bytecode of the changed modules before the next worker imports them.

    The cache is checked by the source's size and mtime in whole seconds: an edit that keeps the size
    within the second the worker compiled the file would pass, and the new worker would run old code.
    """
    for _, path in changes:
        if path.endswith(".py"):
            Path(importlib.util.cache_from_source(path)).unlink(missing_ok=True)


@contextlib.contextmanager
def _signals_queued(handler: Callable[[int, FrameType | None], None]) -> Iterator[None]:
    """Install ``handler`` for SIGTERM and SIGINT; the previous handlers come back after."""
    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
