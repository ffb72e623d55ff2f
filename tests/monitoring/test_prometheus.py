"""A real Prometheus scrapes a real worker (and the backlog exporter) with the shipped rules loaded.

One Prometheus for the module, scraping and evaluating every second, on 127.0.0.1; the local
engine and the real ``neops_worker`` command (and ``neops_worker backlog``) as child processes.
Jobs run first; then every dashboard query must return data, every rule must evaluate without
error, and, once the engine is killed, the engine-unreachable alert must fire. The rules are the
shipped file with every ``for:`` cut to 2 s (in a copy), so that alerts fire within the test.
"""

from __future__ import annotations

import contextlib
import importlib.util
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from neops_worker.devkit.local_engine import EngineOptions
from neops_worker.devkit.local_engine.process import EngineProcess, worker_command, worker_env
from tests.faults.faultkit import free_port
from tests.integration.support import EXAMPLES_REGISTERED, WorkerProcess, add_job, jobs, unfinished
from tests.monitoring.support import (
    BACKLOG_METRICS,
    RULES,
    PrometheusServer,
    dump_yaml,
    load_yaml,
    metric_names,
    panel_queries,
    rules,
    substitute,
    tool,
    wait_until,
    with_short_for,
)

ECHO = "fb.examples.neops/echo:1.0.0"
SLEEP = "fb.examples.neops/sleep:1.0.0"
FAIL = "fb.examples.neops/fail:1.0.0"
#: Whether this checkout has the backlog exporter (``neops_worker backlog``).
HAS_EXPORTER = importlib.util.find_spec("neops_worker.backlog") is not None
NO_EXPORTER = "no backlog exporter in this checkout (the `neops_worker backlog` command is missing)"


@dataclass
class Fleet:
    """What the module's tests look at: Prometheus, and what it scrapes."""

    prometheus: PrometheusServer
    engine: EngineProcess
    worker: WorkerProcess
    #: The worker's health listener, as Prometheus's ``instance`` label names it.
    instance: str
    #: ``neops_worker backlog`` and its port; None where this checkout has no such command.
    exporter: tuple[subprocess.Popen[bytes], int] | None

    def log(self) -> str:
        """Prometheus's and the worker's last lines, for a failure message."""
        return self.prometheus.log() + "\n--- worker log ---\n" + "\n".join(self.worker.output[-30:])


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """Engine, worker, exporter and Prometheus; a few jobs run and scraped; all stopped at the end."""
    tool("prometheus")
    directory = tmp_path_factory.mktemp("monitoring")
    options = EngineOptions(heartbeat_interval_s=1.0, unreachable_after=3, offline_after=6)
    with contextlib.ExitStack() as started:
        engine = EngineProcess(
            directory / "engine.sqlite3", options=options, log_path=directory / "engine.log"
        )
        engine.start()
        started.callback(engine.kill)
        port = free_port()
        # MAX_JOBS_PER_PROCESS=2: the job process is replaced (reason max_jobs) as the jobs run.
        worker = WorkerProcess(
            engine.url, directory, HEALTH_HOST="127.0.0.1", HEALTH_PORT=str(port), MAX_JOBS_PER_PROCESS="2"
        )
        started.callback(worker.stop)
        exporter = started.enter_context(exporter_process(engine.url, directory)) if HAS_EXPORTER else None
        targets = {"neops-worker": f"127.0.0.1:{port}"}
        if exporter is not None:
            targets["neops-worker-backlog"] = f"127.0.0.1:{exporter[1]}"
        # The shipped rules, with every for: cut to 2 s so that alerts fire within the test.
        rule_file = directory / "rules.yaml"
        rule_file.write_text(dump_yaml(with_short_for(load_yaml(RULES), "2s")))
        prometheus = PrometheusServer(directory, free_port(), targets, rule_file)
        started.callback(prometheus.stop)
        prometheus.start()
        worker.wait_for_log(EXAMPLES_REGISTERED)
        running = Fleet(prometheus, engine, worker, targets["neops-worker"], exporter)
        run_jobs(running)
        yield running


@contextlib.contextmanager
def exporter_process(url: str, directory: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """``neops_worker backlog`` on a free loopback port, reading the engine five times a second."""
    port = free_port()
    command = [*worker_command(), "backlog", "--host", "127.0.0.1", "--port", str(port), "--interval", "0.2"]
    with (directory / "backlog.log").open("ab") as log:
        process = subprocess.Popen(
            command, env=worker_env({"URL_BLACKBOARD": url}), stdout=log, stderr=subprocess.STDOUT
        )
    try:
        yield process, port
    finally:
        process.terminate()
        process.wait(10)


def run_jobs(fleet: Fleet) -> None:
    """A slow job, then echoes and a failing block queued behind it; wait until Prometheus has them all."""
    url = fleet.engine.url
    add_job(url, SLEEP, seconds=1.0)  # the others wait pending meanwhile: the exporter sees a backlog
    for index in range(3):
        add_job(url, ECHO, message=f"monitoring {index}")
    add_job(url, FAIL, mode="result", reason="failing for the dashboard")  # retried by the engine
    wait_until(lambda: unfinished(url) == 0, 30, "every job to finish", fleet.log)
    query, ran = fleet.prometheus.query, len(jobs(url))
    # Every job counted, and each counter scraped three times: rates have samples to work with.
    wait_until(
        lambda: bool(query(f"sum(neops_worker_jobs_total) == {ran}")),
        15,
        f"{ran} jobs in Prometheus",
        fleet.log,
    )
    wait_until(
        lambda: bool(query("min(count_over_time(neops_worker_jobs_total[1m])) >= 3")),
        15,
        "more scrapes of the job counters",
        fleet.log,
    )
    if fleet.exporter is not None:
        wait_until(
            lambda: bool(query("neops_worker_backlog_jobs")), 15, "the backlog in Prometheus", fleet.log
        )


QUERIES = panel_queries()


@pytest.mark.parametrize(("panel", "expr"), QUERIES, ids=[title for title, _expr in QUERIES])
def test_every_dashboard_query_returns_data_once_jobs_ran(fleet: Fleet, panel: str, expr: str) -> None:
    """The panel's query, its variables replaced as Grafana does, returns series from the real targets."""
    if metric_names(expr) & BACKLOG_METRICS and fleet.exporter is None:
        pytest.skip(NO_EXPORTER)
    result = fleet.prometheus.query(substitute(expr))
    assert result, f"{panel}: no data for {substitute(expr)}"


@pytest.mark.parametrize("name", ["job", "instance"])
def test_the_dashboard_variables_list_the_worker(fleet: Fleet, name: str) -> None:
    """``label_values(neops_worker_engine_up, job)`` and the instance variable find the scraped worker."""
    values = fleet.prometheus.api(f"label/{name}/values", **{"match[]": "neops_worker_engine_up"})
    assert values == {"job": ["neops-worker"], "instance": [fleet.instance]}[name]


def test_every_shipped_rule_evaluates_without_error(fleet: Fleet) -> None:
    """Each recording rule and alert of the shipped file runs on the real series with health ok."""

    def evaluated() -> list[dict[str, Any]]:
        groups = fleet.prometheus.api("rules")["groups"]
        return [rule for group in groups for rule in group["rules"]]

    wait_until(
        lambda: all(rule["health"] != "unknown" for rule in evaluated()), 10, "a rule evaluation", fleet.log
    )
    broken = {rule["name"]: rule.get("lastError") for rule in evaluated() if rule["health"] != "ok"}
    assert broken == {}
    assert len(evaluated()) == len(rules("alert") + rules("record"))


def firing(fleet: Fleet, name: str) -> list[dict[str, Any]]:
    """The alerts named ``name`` that fire now."""
    return [
        alert
        for alert in fleet.prometheus.alerts()
        if alert["labels"]["alertname"] == name and alert["state"] == "firing"
    ]


def test_the_engine_unreachable_alert_fires_when_the_engine_goes_away(fleet: Fleet) -> None:
    """Kill the local engine: the worker's engine_up drops to 0 and Prometheus fires the alert for it.

    This test and the next stop the engine: they stay the module's last.
    """
    query = fleet.prometheus.query
    wait_until(lambda: bool(query("neops_worker_engine_up == 1")), 10, "the engine seen up", fleet.log)
    assert firing(fleet, "NeopsWorkerEngineUnreachable") == []
    fleet.engine.kill()
    wait_until(
        lambda: bool(firing(fleet, "NeopsWorkerEngineUnreachable")), 20, "the alert to fire", fleet.log
    )
    [alert] = firing(fleet, "NeopsWorkerEngineUnreachable")
    assert alert["labels"] == {
        "alertname": "NeopsWorkerEngineUnreachable",
        "instance": fleet.instance,
        "job": "neops-worker",
        "severity": "critical",
    }
    assert alert["annotations"]["summary"] == f"Worker {fleet.instance} cannot reach the engine"
    # An engine outage is no reason to restart a worker: it stays alive, only unready.
    assert httpx.get(f"http://{fleet.instance}/livez", timeout=5).status_code == 200


def test_the_exporter_down_alert_fires_when_the_engine_goes_away(fleet: Fleet) -> None:
    """With the engine gone (previous test), the exporter's reads fail and its alert fires."""
    if fleet.exporter is None:
        pytest.skip(NO_EXPORTER)
    fleet.engine.kill()  # killed already, unless this test runs alone
    wait_until(
        lambda: bool(firing(fleet, "NeopsWorkerBacklogExporterDown")), 20, "the alert to fire", fleet.log
    )
    [alert] = firing(fleet, "NeopsWorkerBacklogExporterDown")
    assert alert["labels"]["job"] == "neops-worker-backlog"
