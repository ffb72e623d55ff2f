"""The SDK-style repository in ``repo/`` imports the vendor SDK: only its ported copies are run."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from neops_worker.devkit.local_engine import EngineOptions, LocalEngine
from tests.integration.support import Recorder

#: The repository as written for the SDK; never collected in place.
REPO = Path(__file__).parent / "repo"
collect_ignore = ["repo"]


@pytest.fixture
def sdk_repo(tmp_path: Path) -> Path:
    """A fresh copy of the SDK-style repository (not ported yet)."""
    copy = tmp_path / "acme"
    shutil.copytree(REPO, copy, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    return copy


@pytest.fixture
def recorded_engine() -> Iterator[tuple[str, Recorder]]:
    """A local engine on a free loopback port, and the recorder of every request it received."""
    holder: dict[str, Recorder] = {}

    def wrap(app: Any) -> Any:
        holder["recorder"] = Recorder(app)
        return holder["recorder"]

    options = EngineOptions(heartbeat_interval_s=1.0, unreachable_after=3, offline_after=6)
    with LocalEngine(":memory:", options=options, wrap_app=wrap) as running:
        yield str(running.url), holder["recorder"]
