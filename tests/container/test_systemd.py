"""The systemd unit under a real systemd (booted in a podman container): notify, drain on stop, watchdog."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.container.support import ROOT, SLEEP, Podman, add_job, free_port, job, wait_for

pytestmark = pytest.mark.container

SYSTEMD_IMAGE = "localhost/neops-worker-systemd:container-test"
UNIT = "neops-worker"
#: The worker's image, with systemd added and the unit installed as the operations guide says.
CONTAINERFILE = """\
ARG APP_IMAGE
FROM ${APP_IMAGE} AS app
FROM docker.io/library/python:3.12-slim
RUN apt-get update -qq \\
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd systemd-sysv \\
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --home-dir /opt/neops-worker --shell /usr/sbin/nologin neops-worker
# The environment's scripts name /app, where it was built: link the unit's path to it.
COPY --from=app /app /app
RUN ln -s /app /opt/neops-worker && mkdir /etc/neops-worker
COPY neops-worker.service /etc/systemd/system/
RUN systemctl enable neops-worker.service \\
    && systemctl mask systemd-logind.service getty.target console-getty.service systemd-udevd.service
STOPSIGNAL SIGRTMIN+3
CMD ["/sbin/init"]
"""


@pytest.fixture(scope="module")
def systemd_image(podman: Podman, image: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A Debian with systemd, the worker and the repository's unit file."""
    context = tmp_path_factory.mktemp("systemd-image")
    (context / "Containerfile").write_text(CONTAINERFILE)
    shutil.copy(ROOT / "deploy" / "systemd" / "neops-worker.service", context)
    podman(
        "build", "--format", "docker", "--build-arg", f"APP_IMAGE={image}", "-t", SYSTEMD_IMAGE, str(context)
    )
    return SYSTEMD_IMAGE


@pytest.fixture
def machine(podman: Podman, systemd_image: str, engine: str, tmp_path: Path) -> Iterator[str]:
    """A container booted with systemd; the worker service starts against the local engine."""
    env_file = tmp_path / "worker.env"
    env_file.write_text(
        f"URL_BLACKBOARD={engine}\nHEARTBEAT_INTERVAL=1\nSHUTDOWN_TIMEOUT=30\n"
        f"HEALTH_PORT={free_port()}\nWORKER_NAME=systemd-test\n"
    )
    with podman.container(
        systemd_image,
        {},
        "--systemd=always",
        "-v",
        f"{env_file}:/etc/neops-worker/worker.env:ro",
        read_only=False,
    ) as name:
        yield name


def show(podman: Podman, machine: str, *properties: str) -> dict[str, str]:
    """``systemctl show`` of the worker's unit."""
    args = [arg for prop in properties for arg in ("-p", prop)]
    output = podman("exec", machine, "systemctl", "show", UNIT, *args, check=False).stdout
    return dict(line.split("=", 1) for line in output.splitlines() if "=" in line)


def journal(podman: Podman, machine: str) -> str:
    """The unit's journal."""
    return podman("exec", machine, "journalctl", "-u", UNIT, "--no-pager", "-o", "cat").stdout


def test_unit_reports_ready_status_and_drains_on_stop(podman: Podman, machine: str, engine: str) -> None:
    """Active only after READY=1; STATUS= follows the job; ``systemctl stop`` drains it and exits 0."""
    wait_for(lambda: show(podman, machine, "StatusText").get("StatusText") == "idle", 60, "Status: idle")
    assert show(podman, machine, "ActiveState", "Type", "NotifyAccess") == {
        "Type": "notify",
        "NotifyAccess": "main",
        "ActiveState": "active",
    }
    slow = add_job(engine, SLEEP, {"seconds": 3})
    running = f"running job {slow} ({SLEEP})"
    wait_for(
        lambda: show(podman, machine, "StatusText").get("StatusText") == running, 15, "Status: running job"
    )
    podman("exec", machine, "systemctl", "stop", UNIT, timeout=120)
    assert show(podman, machine, "Result", "ExecMainStatus") == {"Result": "success", "ExecMainStatus": "0"}
    drained = job(engine, slow)
    assert (drained["status"], drained["resultStatus"]) == ("pushed", "success")
    assert "Received SIGTERM. Shutting down..." in journal(podman, machine)


def test_watchdog_restarts_a_frozen_worker(podman: Podman, machine: str) -> None:
    """With WatchdogSec lowered to 4 s, a SIGSTOPped worker is killed by the watchdog and restarted."""
    wait_for(lambda: show(podman, machine, "StatusText").get("StatusText") == "idle", 60, "Status: idle")
    # TimeoutStopSec and RestartSec lowered too: where systemd cannot tell that the unit's cgroup is
    # empty (cgroup v1 in a container), it waits TimeoutStopSec (90 s) after the watchdog's final
    # SIGKILL, then RestartSec, before the restart.
    drop_in = (
        "mkdir -p /etc/systemd/system/{0}.service.d"
        " && printf '[Service]\\nWatchdogSec=4\\nTimeoutStopSec=3\\nRestartSec=1\\n' > {1}"
    )
    podman(
        "exec", machine, "sh", "-c", drop_in.format(UNIT, f"/etc/systemd/system/{UNIT}.service.d/fast.conf")
    )
    podman("exec", machine, "systemctl", "daemon-reload")
    podman("exec", machine, "systemctl", "restart", UNIT, timeout=120)
    wait_for(
        lambda: show(podman, machine, "StatusText").get("StatusText") == "idle", 60, "Status: idle again"
    )
    assert show(podman, machine, "WatchdogUSec", "TimeoutStopUSec", "RestartUSec") == {
        "WatchdogUSec": "4s",
        "TimeoutStopUSec": "3s",
        "RestartUSec": "1s",
    }
    pid = show(podman, machine, "MainPID")["MainPID"]
    podman("exec", machine, "sh", "-c", f"kill -STOP {pid}")
    try:
        wait_for(
            lambda: show(podman, machine, "NRestarts").get("NRestarts", "0") != "0", 150, "a watchdog restart"
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- journal ---\n{journal(podman, machine)[-3000:]}") from None
    assert "Failed with result 'watchdog'" in journal(podman, machine)
    wait_for(
        lambda: show(podman, machine, "StatusText").get("StatusText") == "idle", 60, "the restarted worker"
    )
