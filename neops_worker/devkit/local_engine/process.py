"""Child processes for development and tests: the local engine (killed, terminated, restarted) and the worker.

No ``engine`` dependency group is needed in the parent: this module works without it (the engine's
child needs it, of course).
"""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO

from neops_worker.devkit.local_engine.options import EngineOptions
from neops_worker.settings import Settings

#: The line ``python -m neops_worker.devkit.local_engine`` prints on stdout once it listens.
READY_PATTERN = re.compile(r"listening on (http://\S+)")


def engine_command(
    db_path: str | Path, host: str = "127.0.0.1", port: int = 0, options: EngineOptions | None = None
) -> list[str]:
    """The argument list that starts the local engine with these settings in a new interpreter."""
    command = [sys.executable, "-m", "neops_worker.devkit.local_engine", "--host", host, "--port", str(port)]
    return [
        *command,
        "--db",
        str(db_path),
        "--log-level",
        "warning",
        *option_arguments(options or EngineOptions()),
    ]


def option_arguments(options: EngineOptions) -> list[str]:
    """The command-line options of ``python -m neops_worker.devkit.local_engine`` that give ``options``."""
    arguments = [
        f"--heartbeat-interval={options.heartbeat_interval_s}",
        f"--unreachable-after={options.unreachable_after}",
        f"--offline-after={options.offline_after}",
        f"--contract={options.contract}",
        f"--max-retries={options.max_retries}",
        f"--max-body-size={options.max_body_size}",
        f"--stuck-job-timeout={options.stuck_job_timeout_s}",
    ]
    optional = {
        "--sweep-interval": options.sweep_interval_s,
        "--engine-version": options.engine_version,
        "--max-workers": options.max_workers,
        "--max-function-blocks": options.max_function_blocks,
    }
    arguments += [f"{name}={value}" for name, value in optional.items() if value is not None]
    flags = {"--incompatible": not options.compatible, "--deprecated": options.deprecated}
    return arguments + [flag for flag, given in flags.items() if given]


class EngineProcess:
    """``python -m neops_worker.devkit.local_engine`` in a child process; restarts keep the port and the file.

    Development and tests only. ``stderr`` (the engine's log) goes to ``log_path`` when given, else it
    is inherited.
    """

    def __init__(
        self,
        db_path: str | Path,
        host: str = "127.0.0.1",
        port: int = 0,
        options: EngineOptions | None = None,
        log_path: str | Path | None = None,
    ) -> None:
        self._db_path = db_path
        self._host = host
        self._port = port
        self._options = options
        self._log_path = log_path
        self._process: subprocess.Popen[str] | None = None
        self._url: str | None = None

    def start(self, timeout_s: float = 20.0) -> EngineProcess:
        """Spawn the engine and wait for its ready line; later starts reuse the port it got."""
        if self.running:
            raise RuntimeError("the engine process is already running")
        command = engine_command(self._db_path, self._host, self._port, self._options)
        with _stderr_target(self._log_path) as stderr:
            process = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=stderr, text=True, env=_child_env()
            )
        self._process = process
        try:
            self._url = _await_ready(process, timeout_s)
        except BaseException:
            self.kill()
            raise
        self._port = int(self._url.rsplit(":", 1)[1])
        return self

    def kill(self) -> None:
        """SIGKILL the engine (no shutdown at all) and reap it."""
        self._signal(signal.SIGKILL, timeout_s=10.0)

    def terminate(self, timeout_s: float = 10.0) -> int | None:
        """SIGTERM the engine, wait for its graceful exit; the exit code (None if not running)."""
        return self._signal(signal.SIGTERM, timeout_s)

    def restart(self, timeout_s: float = 20.0) -> EngineProcess:
        """Kill the engine if it runs, then start it again on the same port and file."""
        self.kill()
        return self.start(timeout_s)

    @property
    def running(self) -> bool:
        """Whether the child process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def url(self) -> str:
        """The base URL of the last start."""
        if self._url is None:
            raise RuntimeError("the engine process was never started")
        return self._url

    @property
    def pid(self) -> int | None:
        """The child's process id, None before the first start."""
        return None if self._process is None else self._process.pid

    def _signal(self, signum: signal.Signals, timeout_s: float) -> int | None:
        process = self._process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signum)
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()
        return process.returncode

    def __enter__(self) -> EngineProcess:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.terminate()


# --- the worker ---------------------------------------------------------------------------------

#: What a worker child needs of this environment when it should inherit as little as possible.
BASIC_VARIABLES = frozenset({"PATH", "HOME", "LANG", "TMPDIR"})


def worker_command() -> list[str]:
    """The ``neops_worker`` console script beside this interpreter, else ``python -m neops_worker``."""
    script = Path(sys.executable).parent / "neops_worker"
    return [str(script)] if script.exists() else [sys.executable, "-m", "neops_worker"]


def worker_env(settings: Mapping[str, object], keep: Callable[[str], bool] | None = None) -> dict[str, str]:
    """This environment without any worker setting of the user's, plus ``settings`` (names upper-cased).

    ``keep`` narrows what is inherited further (by variable name); by default everything else is.
    """
    env = {
        name: value
        for name, value in os.environ.items()
        if name.lower() not in Settings.model_fields and (keep is None or keep(name))
    }
    env.update({name.upper(): str(value) for name, value in settings.items()})
    return env


def start_worker(
    settings: Mapping[str, object],
    cwd: str | Path,
    *,
    keep: Callable[[str], bool] | None = None,
    stdin: int | None = None,
    stdout: int | None = subprocess.PIPE,
    stderr: int | None = subprocess.STDOUT,
    own_group: bool = False,
) -> subprocess.Popen[str]:
    """The real worker as a child process (text output), in the environment ``worker_env`` gives."""
    return subprocess.Popen(
        worker_command(),
        cwd=cwd,
        env=worker_env(settings, keep),
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        text=True,
        start_new_session=own_group,  # a process group of its own, as a terminal gives it
    )


# --- helpers ------------------------------------------------------------------------------------


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@contextlib.contextmanager
def _stderr_target(path: str | Path | None) -> Iterator[IO[str] | None]:
    """The child's stderr: ``path`` opened for appending (the child keeps its own copy), or inherited."""
    if path is None:
        yield None
        return
    with open(path, "a") as log:
        yield log


def _await_ready(process: subprocess.Popen[str], timeout_s: float) -> str:
    """Read the child's stdout until the ready line; raise if it exits or takes longer than ``timeout_s``."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout_s
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while (remaining := deadline - time.monotonic()) > 0:
            if not selector.select(remaining):
                continue
            line = process.stdout.readline()
            if not line:
                raise RuntimeError(
                    f"the engine process exited with code {process.wait()} before it was ready"
                )
            if match := READY_PATTERN.search(line):
                return match.group(1)
    raise TimeoutError(f"the engine process was not ready within {timeout_s} s")
