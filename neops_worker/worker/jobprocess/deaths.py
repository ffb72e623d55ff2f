"""How a job process ended, in the words of a failed result and a restart reason."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass

#: The job process's exit code when it went away cleanly (asked to, or its channel closed).
CLEAN_EXIT = 0


@dataclass(frozen=True)
class Death:
    """The end of one job process: its wait status, or None when nobody could tell."""

    status: int | None
    killed_by_us: bool = False

    @property
    def signal(self) -> int | None:
        """The signal that ended it, if one did."""
        if self.status is None or not os.WIFSIGNALED(self.status):
            return None
        return os.WTERMSIG(self.status)

    @property
    def exit_code(self) -> int | None:
        """Its exit code, if it exited."""
        if self.status is None or not os.WIFEXITED(self.status):
            return None
        return os.WEXITSTATUS(self.status)

    def describe(self) -> str:
        """``exited with status 4``, ``was killed by SIGSEGV``... as an operator reads it."""
        sig = self.signal
        if sig is not None:
            text = f"was killed by {signal_name(sig)}"
            if sig == signal.SIGKILL and not self.killed_by_us:
                text += " (the kernel's out-of-memory killer, or an operator)"
            return text
        code = self.exit_code
        if code is not None:
            return f"exited with status {code}"
        return "ended, how is unknown (its template process went away)"


def signal_name(number: int) -> str:
    """``SIGSEGV`` for 11; the number where the platform has no name for it."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
