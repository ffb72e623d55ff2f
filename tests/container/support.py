"""Container-suite helpers: podman configured from ``deploy/container``, containers that always get
removed, and the local engine's development API."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "deploy" / "container"
#: What `make-base-image.sh` exits with when this machine cannot make a base image (no CPython 3.12...).
CANNOT_MAKE_BASE = 3
SLEEP = "fb.examples.neops/sleep:1.0.0"
ECHO = "fb.examples.neops/echo:1.0.0"
#: Timings and other figures of the session, printed in the terminal summary.
TIMINGS: dict[str, float] = {}
REPORT: list[str] = []


def podman_env() -> dict[str, str] | None:
    """The environment podman runs with: the caller's, or the one ``install-podman.sh`` prints.

    None if podman is not installed.
    """
    if shutil.which("podman") is None:
        return None
    env = dict(os.environ)
    if "CONTAINERS_CONF" in env and "CONTAINERS_STORAGE_CONF" in env:
        return env
    printed = subprocess.run(
        [str(SCRIPTS / "install-podman.sh"), "--no-install"], capture_output=True, text=True, check=True
    ).stdout
    for line in printed.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        env[name] = value
    return env


@dataclass
class Podman:
    """Runs podman commands with one environment."""

    env: dict[str, str]

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """``podman ARGS``; raises with podman's stderr if ``check`` and it fails."""
        done = subprocess.run(
            ["podman", *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"podman {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}"
            )
        return done

    def script(self, name: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """Run one of ``deploy/container``'s scripts with podman's environment."""
        return subprocess.run(
            [str(SCRIPTS / name), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def inspect(self, name: str, template: str) -> str:
        """``podman inspect --format TEMPLATE NAME``."""
        return self("inspect", name, "--format", template).stdout.strip()

    def logs(self, name: str) -> list[str]:
        """The container's output lines (the worker logs to stderr)."""
        done = self("logs", name)
        return (done.stdout + done.stderr).splitlines()

    def health_log(self, name: str) -> list[dict[str, Any]]:
        """The recorded health check results, oldest first."""
        log = json.loads(self.inspect(name, "{{json .State.Health.Log}}") or "[]")
        return list(log or [])

    @contextlib.contextmanager
    def container(
        self, image: str, env: dict[str, str], *options: str, read_only: bool = True
    ) -> Iterator[str]:
        """A detached container on the host network; removed at the end whatever happened."""
        name = f"neops-test-{uuid.uuid4().hex[:10]}"
        settings = [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]
        settings += ["--read-only"] if read_only else []
        self("run", "-d", "--name", name, "--network", "host", *settings, *options, image)
        try:
            yield name
        finally:
            self("rm", "-f", "-t", "0", name, check=False)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Any, timeout: float, what: str, interval: float = 0.2) -> None:
    """Poll ``condition()`` until it is truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def add_job(engine_url: str, block: str, parameters: dict[str, Any]) -> str:
    """Queue a job on the local engine."""
    answer = httpx.post(f"{engine_url}/_dev/jobs", json={"functionBlockId": block, "parameters": parameters})
    answer.raise_for_status()
    return str(answer.json()["jobId"])


def job(engine_url: str, job_id: str) -> dict[str, Any]:
    """The local engine's record of a job."""
    answer = httpx.get(f"{engine_url}/_dev/jobs/{job_id}")
    answer.raise_for_status()
    return dict(answer.json())
