"""The container image, really built and run with podman: user, contents, drain on stop, health check."""

from __future__ import annotations

import json
import time

import pytest

from tests.container.support import ECHO, SLEEP, TIMINGS, Podman, add_job, free_port, job, wait_for

pytestmark = pytest.mark.container

#: Packages of the dev and engine groups (and uv): none may be in the image.
NOT_SHIPPED = ("pytest", "mypy", "ruff", "respx", "jsonschema", "starlette", "uvicorn", "uv")
#: What uv or pip print while installing; a start-up log with any of them installed at run time.
INSTALLER_WORDS = ("Installed ", "Resolved ", "Downloading ", "Building ", "Prepared ", "Uninstalled ")


def worker_env(engine_url: str, **extra: str) -> dict[str, str]:
    """The container's settings: this engine, fast heartbeats, a free health port."""
    env = {"URL_BLACKBOARD": engine_url, "HEARTBEAT_INTERVAL": "1", "HEALTH_PORT": str(free_port())}
    env.update(extra)
    return env


def ready(podman: Podman, name: str) -> bool:
    """``neops_worker health --ready`` inside the container says ready."""
    return podman("exec", name, "neops_worker", "health", "--ready", check=False).returncode == 0


def check_health(podman: Podman, name: str) -> tuple[int, str]:
    """Run the image's HEALTHCHECK once; its exit code and the container's health status after it."""
    code = podman("healthcheck", "run", name, check=False, timeout=60).returncode
    return code, podman.inspect(name, "{{.State.Health.Status}}")


def test_image_runs_as_non_root(podman: Podman, image: str) -> None:
    """The image's user is the unprivileged ``neops`` (uid 10001), and processes run as it."""
    assert podman.inspect(image, "{{.Config.User}}") == "neops:neops"
    assert podman("run", "--rm", "--entrypoint", "id", image, "-u").stdout.strip() == "10001"


def test_image_ships_no_dev_or_engine_dependencies(podman: Podman, image: str) -> None:
    """Neither the dev nor the engine group, nor uv, is installed; prometheus-client is."""
    names = (*NOT_SHIPPED, "prometheus_client")
    probe = f"import importlib.util as u; print([m for m in {names!r} if u.find_spec(m)])"
    found = podman("run", "--rm", "--entrypoint", "python", image, "-c", probe).stdout.strip()
    assert found == "['prometheus_client']"


def test_job_runs_and_stop_drains_it(podman: Podman, image: str, engine: str) -> None:
    """A job runs; ``podman stop`` during the next one lets it finish, pushes it, and exits 0, not 137."""
    with podman.container(image, worker_env(engine, SHUTDOWN_TIMEOUT="30")) as name:
        wait_for(lambda: ready(podman, name), 30, "the worker to be ready")
        echo = add_job(engine, ECHO, {"message": "from the container"})
        wait_for(lambda: job(engine, echo)["status"] == "pushed", 15, "the echo job's result")
        slow = add_job(engine, SLEEP, {"seconds": 4})
        wait_for(lambda: job(engine, slow)["status"] == "polled", 15, "the sleep job to be claimed")
        started = time.monotonic()
        podman("stop", "-t", "30", name, timeout=60)
        stop_s = time.monotonic() - started
        TIMINGS["stop with a job in hand"] = stop_s
        lines = podman.logs(name)
        assert podman.inspect(name, "{{.State.ExitCode}}") == "0"
    assert job(engine, echo)["resultStatus"] == "success"
    drained = job(engine, slow)
    assert (drained["status"], drained["resultStatus"]) == ("pushed", "success")
    assert 1 < stop_s < 25
    records = [json.loads(line) for line in lines]  # every line is the worker's JSON: nothing installed
    assert not [line for line in lines if line.startswith(INSTALLER_WORDS)]
    messages = [record["message"] for record in records]
    assert messages.index("Received SIGTERM. Shutting down...") < messages.index("Worker stopped")
    assert any(m.startswith(f"Job {slow} finished: success") for m in messages)


def test_healthcheck_follows_a_frozen_worker(podman: Podman, image: str, engine: str) -> None:
    """HEALTHCHECK: healthy; unhealthy while the worker is frozen (SIGSTOP); healthy again after SIGCONT."""
    # Failures inside the image's start period do not count (and podman 4 cannot shorten it without
    # replacing the command), so the worker is frozen only once the period is over.
    period = podman("image", "inspect", image, "--format", "{{json .Config.Healthcheck.StartPeriod}}").stdout
    start_period_s = int(period) / 1e9
    with podman.container(image, worker_env(engine)) as name:
        started = time.monotonic()
        wait_for(lambda: ready(podman, name), 30, "the worker to be ready")
        time.sleep(max(0.0, start_period_s + 0.5 - (time.monotonic() - started)))
        assert check_health(podman, name) == (0, "healthy")
        podman("kill", "--signal", "STOP", name)
        statuses = [check_health(podman, name) for _ in range(3)]
        assert statuses == [(1, "healthy"), (1, "healthy"), (1, "unhealthy")]
        assert "timed out" in podman.health_log(name)[-1]["Output"]
        podman("kill", "--signal", "CONT", name)
        wait_for(lambda: check_health(podman, name) == (0, "healthy"), 30, "healthy again", interval=1)
        assert podman.health_log(name)[-1]["Output"].startswith("ok: ")
