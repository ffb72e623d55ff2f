"""The newer-SDK-style repository in ``repo/``: a fresh copy, its port, its own pytest run."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.devtools.blockdirs import invoke
from tests.integration.commands import clean_environment

#: The repository as written for the SDK; never collected in place.
REPO = Path(__file__).parent / "repo"
#: The blocks' ids.
SUMMARY = "fb.acme.newer/device_summary:1.0.0"
INVENTORY = "fb.acme.newer/lab_inventory:1.0.0"
BANNER = "fb.acme.newer/site_banner:1.0.0"


def copy_repo(destination: Path) -> Path:
    """A fresh copy of the repository at ``destination`` (not ported yet)."""
    shutil.copytree(REPO, destination, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    return destination


def ported(repo: Path) -> Path:
    """``repo`` after ``neops_worker port --write``, which must leave nothing to do by hand."""
    result = invoke("port", "--write", str(repo))
    assert result.exit_code == 0, result.output
    assert "0 thing(s) to port by hand" in result.stderr, result.stderr
    return repo


def run_pytest(repo: Path, *args: str, **settings: Any) -> subprocess.CompletedProcess[str]:
    """Plain ``pytest`` in ``repo`` (its own configuration), in an environment with only ``settings``."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *args],
        cwd=repo,
        env=clean_environment(**settings),
        check=False,
        capture_output=True,
        text=True,
        timeout=180,
    )
