"""Settings of the local engine: the contract it speaks, heartbeats, limits, where the database lives."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

#: The contracts the local engine can speak: the current one (client 0.43.0b8) and 0.42.1.
Contract = Literal["0.43.0b8", "0.42.1"]
CONTRACTS: tuple[Contract, ...] = get_args(Contract)
CURRENT_CONTRACT: Contract = "0.43.0b8"
#: What ``GET /version`` answers for each contract unless told otherwise: numbered like the vendor's
#: client, as real engines are, with a suffix that says this is not the real engine.
ENGINE_VERSIONS: dict[Contract, str] = {"0.43.0b8": "0.43.0-beta.8-local", "0.42.1": "0.42.1-local"}

KB = 1024
MB = 1024 * KB
#: The engine's body limit on every route but result and log pushes (contract section 1).
SMALL_BODY_LIMIT = 100 * KB
#: The engine's default limit on result and log pushes (``MAX_REQUEST_BODY_SIZE``).
DEFAULT_MAX_BODY_SIZE = 50 * MB
#: ``BLACKBOARD_STUCK_JOB_TIMEOUT``: a job still claimed after this long is failed by the engine.
DEFAULT_STUCK_JOB_TIMEOUT_S = 720.0
#: Automatic retries of a failed job of a pure or idempotent block (the engine's test index says 3).
DEFAULT_MAX_RETRIES = 3

#: The help of each command-line option, shared by ``neops_worker engine`` and ``python -m ...local_engine``.
OPTION_HELP = {
    "contract": "The contract to speak: 0.43.0b8 (rollback, retries, {success} answers) or 0.42.1.",
    "engine_version": "What GET /version answers (default: the contract's version with a -local suffix).",
    "max_retries": "Retries of a failed job of a pure or idempotent block (0.43 only; 0: none).",
    "max_workers": "Licence limit: live workers; one more registration is refused with 403.",
    "max_function_blocks": "Licence limit: function blocks (by package and name); one more is refused.",
    "max_body_size": "Body limit of result and log pushes, e.g. 200kB (default: 50MB; other routes: 100kB).",
    "stuck_job_timeout": "Seconds a job may stay claimed before the engine fails it (0: never).",
}

_SIZE = re.compile(r"^\s*(\d+)\s*([kmg]?)i?b?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """``50MB``, ``100kb`` or ``1048576`` in bytes (1024-based, as the engine's body parser counts)."""
    match = _SIZE.match(text)
    if match is None:
        raise ValueError(f"size {text!r} must be a number of bytes, or a number with kB, MB or GB")
    number, unit = match.groups()
    return int(number) * {"": 1, "k": KB, "m": MB, "g": 1024 * MB}[unit.lower()]


def format_size(size: int) -> str:
    """Bytes as people read them: ``50 MB``, ``100 kB``, ``1234 bytes``."""
    for unit, factor in (("GB", 1024 * MB), ("MB", MB), ("kB", KB)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} bytes"


def option_name(field: str) -> str:
    """The command-line option that sets an :class:`EngineOptions` field: ``--heartbeat-interval``."""
    return "--" + field.removesuffix("_s").replace("_", "-")


class OptionError(ValueError):
    """An impossible engine option. The message names the fields (``unreachable_after``), as Python code
    gives them; :meth:`for_command_line` names the options that set them (``--unreachable-after``)."""

    def __init__(self, message: str, *fields: str) -> None:
        super().__init__(message)
        #: The fields the message names.
        self.fields = fields

    def for_command_line(self) -> str:
        """The message naming command-line options instead of fields."""
        message = str(self)
        for field in self.fields:
            message = re.sub(rf"\b{field}\b", option_name(field), message)
        return message


@dataclass(frozen=True)
class EngineOptions:
    """Tunable behaviour of the local engine (not of the production engine, whose values are unknown).

    A worker is ``unreachable`` once it has not been heard from for ``unreachable_after`` heartbeat
    intervals and expires (``offline``, soft-deleted, its claimed jobs re-queued, its pings answered
    404) after ``offline_after`` intervals.
    """

    heartbeat_interval_s: float = 20.0
    unreachable_after: float = 2.0
    offline_after: float = 5.0
    #: How often the background sweep looks for silent workers; None picks a value from the interval.
    sweep_interval_s: float | None = None
    #: The contract spoken: answer shapes, the fields refused, whether runs are retried and rolled back.
    contract: Contract = CURRENT_CONTRACT
    #: What ``GET /version`` answers; None: the contract's version (:data:`ENGINE_VERSIONS`).
    engine_version: str | None = None
    #: The answer to ``POST /version/compatibility`` for the contract library (tests set False).
    compatible: bool = True
    deprecated: bool = False
    #: ``GET /blackboard/jobs/active`` lists pushed jobs finished within this many seconds.
    active_window_s: float = 60.0
    max_retries: int = DEFAULT_MAX_RETRIES
    #: Licence limits (None: unlimited): live workers, and function blocks counted by package and name.
    max_workers: int | None = None
    max_function_blocks: int | None = None
    #: Body limit of result and log pushes in bytes; every other route takes :data:`SMALL_BODY_LIMIT`.
    max_body_size: int = DEFAULT_MAX_BODY_SIZE
    #: Seconds a job may stay claimed before the engine fails it; 0: never.
    stuck_job_timeout_s: float = DEFAULT_STUCK_JOB_TIMEOUT_S

    def __post_init__(self) -> None:
        heartbeat, unreachable, offline = (
            self.heartbeat_interval_s,
            self.unreachable_after,
            self.offline_after,
        )
        if heartbeat <= 0:
            raise OptionError(
                f"heartbeat_interval_s must be positive, not {heartbeat:g}", "heartbeat_interval_s"
            )
        if unreachable <= 0:
            raise OptionError(f"unreachable_after must be positive, not {unreachable:g}", "unreachable_after")
        if offline <= unreachable:
            raise OptionError(
                f"offline_after ({offline:g}) must be more than unreachable_after ({unreachable:g}): "
                "a silent worker is unreachable before it expires",
                "offline_after",
                "unreachable_after",
            )
        if self.sweep_interval_s is not None and self.sweep_interval_s <= 0:
            raise OptionError(
                f"sweep_interval_s must be positive, not {self.sweep_interval_s:g}", "sweep_interval_s"
            )
        if self.contract not in CONTRACTS:
            raise OptionError(
                f"contract must be one of {', '.join(CONTRACTS)}, not {self.contract!r}", "contract"
            )
        self._check_limits()

    def _check_limits(self) -> None:
        for name in ("max_retries", "max_workers", "max_function_blocks"):
            if (getattr(self, name) or 0) < 0:
                raise OptionError(f"{name} must not be negative, not {getattr(self, name)}", name)
        if self.max_body_size < 1:
            raise OptionError(f"max_body_size must be positive, not {self.max_body_size}", "max_body_size")
        if self.stuck_job_timeout_s < 0:
            raise OptionError(
                f"stuck_job_timeout_s must not be negative (0: never), not {self.stuck_job_timeout_s:g}",
                "stuck_job_timeout_s",
            )

    @property
    def version(self) -> str:
        """What ``GET /version`` and the compatibility answer say the engine's version is."""
        return self.engine_version or ENGINE_VERSIONS[self.contract]

    @property
    def current(self) -> bool:
        """Whether the engine speaks the current contract (0.43), with its rollback and retries."""
        return self.contract == CURRENT_CONTRACT

    @property
    def unreachable_after_s(self) -> float:
        """Seconds of silence after which a worker counts as unreachable."""
        return self.heartbeat_interval_s * self.unreachable_after

    @property
    def offline_after_s(self) -> float:
        """Seconds of silence after which a worker expires."""
        return self.heartbeat_interval_s * self.offline_after

    @property
    def effective_sweep_interval_s(self) -> float:
        """The background sweep period: as given, else a quarter interval clamped to 0.05-1 s."""
        if self.sweep_interval_s is not None:
            return self.sweep_interval_s
        return min(1.0, max(0.05, self.heartbeat_interval_s / 4))

    @property
    def stuck_check_interval_s(self) -> float:
        """How often the sweep looks for stuck jobs: a twentieth of the timeout, at least a sweep period.

        The engine itself looks once a minute; scanning the claimed jobs every sweep would cost a
        table scan per second on a long queue for a timeout of minutes.
        """
        return max(self.effective_sweep_interval_s, self.stuck_job_timeout_s / 20)


def default_db_path() -> Path:
    """``$XDG_DATA_HOME/neops_worker/engine.sqlite3``, falling back to ``~/.local/share``."""
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "neops_worker" / "engine.sqlite3"
