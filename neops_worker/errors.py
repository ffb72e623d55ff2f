"""The exception tree, split by who must react, and the exit code each one maps to.

::

    NeopsWorkerError
    ├── ConfigurationError      bad setting or command-line input: fix and restart (exit 2)
    ├── DiscoveryError          function blocks cannot be loaded: fix the blocks (exit 1)
    ├── IncompatibleEngineError the engine said it does not speak our contract (exit 1)
    ├── LicenceRefusedError     the engine's licence refuses the worker or its blocks (exit 3)
    ├── ShutdownTimeoutError    the drain did not finish in time (exit 1)
    └── EngineError             a call to the engine did not succeed
        ├── EngineUnavailable   transient: connection, timeout, 408, 429, 5xx; retry
        └── EngineRejected      permanent: any other 4xx; do not retry (carries status and body)

Errors raised by a function block are not part of this tree: they become a failed job result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
#: The engine's licence refused the worker or a block: a restart meets the same refusal, so service
#: managers are told not to restart on it (``RestartPreventExitStatus=3`` in the systemd unit).
EXIT_LICENCE = 3


class NeopsWorkerError(Exception):
    """Base of every error the worker raises on purpose."""

    exit_code = EXIT_FAILURE


class ConfigurationError(NeopsWorkerError):
    """A setting or command-line value is invalid; the message names the variable."""

    exit_code = EXIT_USAGE


class DiscoveryError(NeopsWorkerError):
    """Function blocks cannot be loaded: import failures, duplicates, or none found."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class IncompatibleEngineError(NeopsWorkerError):
    """The engine answered the version check with ``compatible: false``."""


class LicenceRefusedError(NeopsWorkerError):
    """A registration refused by the engine's licence (403 ``LicenseLimitExceeded``), naming the quota."""

    exit_code = EXIT_LICENCE


class ShutdownTimeoutError(NeopsWorkerError):
    """The job in hand did not finish within ``SHUTDOWN_TIMEOUT`` (or a second signal came)."""


class EngineError(NeopsWorkerError):
    """A call to the engine did not succeed."""

    def __init__(self, operation: str, detail: str, status: int | None = None, body: str = "") -> None:
        self.operation = operation
        self.detail = detail
        self.status = status
        self.body = body
        super().__init__(f"{operation}: {detail}")


class EngineUnavailable(EngineError):
    """A transient failure (connection error, timeout, 408, 429, 5xx): worth retrying."""

    def __init__(
        self,
        operation: str,
        detail: str,
        status: int | None = None,
        body: str = "",
        *,
        request_sent: bool = True,
        retry_after: float | None = None,
        reason: str | None = None,
        timed_out: bool = False,
    ) -> None:
        super().__init__(operation, detail, status, body)
        #: The request got no answer within its timeout (it may have reached the engine).
        self.timed_out = timed_out
        #: False only when the request certainly never reached the engine (connect failed).
        self.request_sent = request_sent
        #: The engine's ``Retry-After`` (or licence ``retryAfterSeconds``), when it gave one.
        self.retry_after = retry_after
        #: What went wrong in words, without the operation ("connection refused", "HTTP 503: ...").
        self.reason = detail if reason is None else reason


class EngineRejected(EngineError):
    """A permanent answer (a 4xx other than 408 and 429): retrying will not help."""


def validation_problems(exc: ValidationError, root: str = "(root)") -> list[str]:
    """``field: problem`` for each error of a pydantic validation (``root`` names the whole value)."""
    return [
        f"{'.'.join(str(part) for part in error['loc']) or root}: {error['msg']}"
        for error in exc.errors(include_url=False)
    ]


def describe_errors(exc: ValidationError) -> str:
    """``field: problem`` for every error of a pydantic validation, the way an operator reads them."""
    return "; ".join(validation_problems(exc))
