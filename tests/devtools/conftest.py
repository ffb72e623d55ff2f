"""Fixtures of the developer-command tests: a working directory of their own, and block directories."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.devtools.blockdirs import block_source, write_dir


@pytest.fixture(autouse=True)
def _own_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run every command in ``tmp_path``: no stray .env, and paths are shown relative to it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DIR_FUNCTION_BLOCKS", raising=False)


@pytest.fixture
def probe_dir(tmp_path: Path) -> Path:
    """A directory with two valid blocks: a global ``probe`` and a device block ``devprobe`` 2.1.0."""
    return write_dir(
        tmp_path / "probe_blocks",
        {
            "probe.py": block_source(),
            "net/devprobe.py": block_source(
                name="devprobe", cls="DevProbe", run_on="device", version=(2, 1, 0)
            ),
        },
    )
