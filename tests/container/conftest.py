"""Fixtures of the container suite: podman, the image built from the Dockerfile, a local engine."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from neops_worker.devkit.local_engine import EngineOptions, EngineProcess
from tests.container.support import CANNOT_MAKE_BASE, REPORT, ROOT, TIMINGS, Podman, podman_env

IMAGE = "localhost/neops-worker:container-test"


@pytest.fixture(scope="session")
def podman() -> Podman:
    """podman with a working configuration (skipped where podman is missing)."""
    env = podman_env()
    if env is None:
        pytest.skip("podman is not installed (deploy/container/install-podman.sh installs it)")
    return Podman(env)


@pytest.fixture(scope="session")
def image(podman: Podman) -> str:
    """The image built from the repository's Dockerfile, on a local python:3.12-slim if needed."""
    started = time.monotonic()
    base = podman.script("make-base-image.sh")
    if base.returncode == CANNOT_MAKE_BASE:
        pytest.skip(f"no base image can be made here: {base.stderr.strip().splitlines()[-1]}")
    assert base.returncode == 0, base.stderr[-3000:]
    TIMINGS["base image"] = time.monotonic() - started
    started = time.monotonic()
    # --format docker: the OCI format drops HEALTHCHECK.
    podman("build", "--format", "docker", "-t", IMAGE, str(ROOT), timeout=900)
    TIMINGS["image build"] = time.monotonic() - started
    # Earlier builds' untagged images would otherwise pile up in the kept storage.
    podman("image", "prune", "-f", check=False)
    size = podman("image", "inspect", IMAGE, "--format", "{{.Size}}").stdout.strip()
    REPORT.append(f"image size {int(size) / 1e6:.0f} MB")
    return IMAGE


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[str]:
    """The local engine on 127.0.0.1 in a child process, with 1 s heartbeats; yields its URL."""
    options = EngineOptions(heartbeat_interval_s=1.0, offline_after=30.0)
    with EngineProcess(
        tmp_path / "engine.sqlite3", options=options, log_path=tmp_path / "engine.log"
    ) as process:
        yield process.url


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print how long the base image and the build took, the image size and the drain time."""
    if TIMINGS:
        shown = [f"{name} {seconds:.1f} s" for name, seconds in TIMINGS.items()]
        terminalreporter.write_line(f"container suite: {', '.join(shown + REPORT)}")
