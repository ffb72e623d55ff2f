"""Settings of the local engine: heartbeat thresholds, version answers, where the database lives."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

#: What ``GET /version`` answers unless told otherwise; the suffix says this is not the real engine.
DEFAULT_ENGINE_VERSION = "2.0.0-local"


@dataclass(frozen=True)
class EngineOptions:
    """Tunable behaviour of the local engine (not of the production engine, whose values are unknown).

    A worker is ``unreachable`` once it has not pinged for ``unreachable_after`` heartbeat intervals and
    expires (``offline``, soft-deleted, its claimed jobs re-queued, its pings answered 404) after
    ``offline_after`` intervals.
    """

    heartbeat_interval_s: float = 20.0
    unreachable_after: float = 2.0
    offline_after: float = 5.0
    #: How often the background sweep looks for silent workers; None picks a value from the interval.
    sweep_interval_s: float | None = None
    engine_version: str = DEFAULT_ENGINE_VERSION
    #: The answer to ``POST /version/compatibility`` for the contract library (tests set False).
    compatible: bool = True
    deprecated: bool = False
    #: ``GET /blackboard/jobs/active`` lists pushed jobs finished within this many seconds.
    active_window_s: float = 60.0

    def __post_init__(self) -> None:
        if self.heartbeat_interval_s <= 0:
            raise ValueError("heartbeat_interval_s must be positive")
        if not 0 < self.unreachable_after < self.offline_after:
            raise ValueError("need 0 < unreachable_after < offline_after")
        if self.sweep_interval_s is not None and self.sweep_interval_s <= 0:
            raise ValueError("sweep_interval_s must be positive")

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


def default_db_path() -> Path:
    """``$XDG_DATA_HOME/neops_worker/engine.sqlite3``, falling back to ``~/.local/share``."""
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "neops_worker" / "engine.sqlite3"
