"""Any real ``neops_worker`` command line as a child process, with stdout and stderr collected apart.

``WorkerProcess`` (in ``support``) runs the worker command with its output merged; the tests of
``run --reload`` and of the vendor SDK side by side need other command lines (the second script
name, ``python -m``), a session of their own (to send a terminal's Ctrl-C to the process group)
and stdout apart from stderr (nothing may reach stdout but a command's own output).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.integration.support import FAST_SETTINGS, wait_until


def clean_environment(**settings: Any) -> dict[str, str]:
    """This process's environment without its settings (upper-case names), plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.isupper() or k in ("PATH", "HOME", "LANG", "TMPDIR")}
    env.update(FAST_SETTINGS)
    env.update({k.upper(): str(v) for k, v in settings.items()})
    return env


class CommandProcess:
    """A command in a session of its own; its stdout and stderr lines are collected as they come."""

    def __init__(self, argv: Sequence[str], cwd: Path, env: dict[str, str]) -> None:
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self.process = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self._readers = [
            threading.Thread(target=self._read, args=(self.process.stdout, self.stdout), daemon=True),
            threading.Thread(target=self._read, args=(self.process.stderr, self.stderr), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: Any, lines: list[str]) -> None:
        with stream:  # closed at EOF: the command and its children are gone
            for line in stream:
                lines.append(line.rstrip("\n"))

    @property
    def log(self) -> str:
        """Everything written to stderr so far."""
        return "\n".join(self.stderr)

    def count(self, text: str) -> int:
        """How many stderr lines contain ``text``."""
        return sum(text in line for line in list(self.stderr))

    def wait_for_log(self, text: str, times: int = 1, timeout: float = 30) -> None:
        """Wait until ``text`` appeared on ``times`` stderr lines."""
        wait_until(lambda: self.count(text) >= times, timeout, f"{times} x {text!r}\n{self.log[-4000:]}")

    def signal_group(self, signum: signal.Signals) -> None:
        """Send ``signum`` to the whole process group, as a terminal's Ctrl-C does."""
        os.killpg(self.process.pid, signum)

    def wait(self, timeout: float = 60) -> int:
        """Wait for the exit code, once both streams are read to their end."""
        code = self.process.wait(timeout)
        for reader in self._readers:
            reader.join(5)
        return code

    def stop(self) -> None:
        """Make sure the command is gone (test clean-up): SIGTERM, then SIGKILL."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
