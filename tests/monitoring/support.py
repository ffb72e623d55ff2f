"""What the monitoring tests share: the shipped files, the metric names they may use, a real Prometheus."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client import generate_latest

from neops_worker.backlog.metrics import ExporterStatus, backlog_registry
from neops_worker.worker.observers.metrics import WorkerMetrics

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "neops-worker.rules.yaml"
RULE_TESTS = sorted((ROOT / "deploy" / "prometheus" / "tests").glob("*.yaml"))
RUNBOOK = ROOT / "deploy" / "prometheus" / "RUNBOOK.md"
DASHBOARD = ROOT / "deploy" / "grafana" / "neops-worker-fleet.json"
DASHBOARD_SCRIPT = ROOT / "deploy" / "grafana" / "dashboard.py"
#: Where promtool and prometheus come from when missing: the reason a test skips.
INSTALL_HINT = "install Debian's prometheus package (apt-get install prometheus); .ci/run does"


def exposed_names(text: str) -> frozenset[str]:
    """The series names a Prometheus text exposition declares (``# TYPE``), without ``*_created``."""
    names = re.findall(r"^# TYPE (\S+) \S+$", text, re.MULTILINE)
    return frozenset(name for name in names if not name.endswith("_created"))


#: The series a worker exposes (one registry per daemon), read off the worker's own registry.
WORKER_METRICS = exposed_names(WorkerMetrics().render()[0].decode())
#: The series of the backlog exporter (``neops_worker backlog``), read off its own registry.
_READ = ExporterStatus(up=True, last_success=1.0, last_read_s=0.1)
BACKLOG_METRICS = exposed_names(generate_latest(backlog_registry(lambda: _READ)).decode())
HISTOGRAMS = frozenset({"neops_worker_job_duration_seconds"})
#: A metric name in PromQL; not the middle of a recording rule's ``level:metric:operation`` name.
_METRIC = re.compile(r"(?<![\w:])(neops_worker_\w+)(?![\w:])")


def load_yaml(path: Path) -> Any:
    """A YAML file's content."""
    return yaml.safe_load(path.read_text())


def dump_yaml(content: Any) -> str:
    """``content`` as YAML text."""
    text: str = yaml.safe_dump(content, sort_keys=False)
    return text


def rules(kind: str) -> list[dict[str, Any]]:
    """Every rule of the shipped rules file that has the key ``kind`` (``alert`` or ``record``)."""
    groups = load_yaml(RULES)["groups"]
    return [rule for group in groups for rule in group["rules"] if kind in rule]


def metric_names(expr: str) -> set[str]:
    """The neops_worker metrics an expression reads (a histogram's ``_bucket`` etc. as the histogram)."""
    names = set()
    for name in _METRIC.findall(expr):
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        names.add(base if base in HISTOGRAMS else name)
    return names


def exposed_metrics(exposition: str) -> set[str]:
    """The metric names a /metrics page declares (its ``# TYPE`` lines), whether it has samples or not."""
    return set(re.findall(r"^# TYPE (\S+) \w+$", exposition, flags=re.MULTILINE))


def tool(name: str) -> str:
    """The path of ``promtool`` or ``prometheus``; the test skips, saying how to get it, when missing."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not found: {INSTALL_HINT}")
    return path


def with_short_for(content: dict[str, Any], duration: str) -> dict[str, Any]:
    """The rules file ``content`` with every alert's ``for:`` set to ``duration`` (tests only)."""
    for group in content["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = duration
    return content


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, log: Callable[[], str]) -> None:
    """Poll ``predicate`` until true; fail naming ``what``, with ``log()``, after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{log()}")
        time.sleep(0.1)


class PrometheusServer:
    """A real ``prometheus`` on 127.0.0.1: scrape and rule evaluation every second, state in ``directory``."""

    def __init__(self, directory: Path, port: int, targets: dict[str, str], rule_file: Path) -> None:
        self.directory = directory
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = directory / "prometheus.log"
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
            "rule_files": [str(rule_file)],
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": [target]}]}
                for job, target in targets.items()
            ],
        }
        (directory / "prometheus.yml").write_text(dump_yaml(config))
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20) -> None:
        """Start it and wait until it is ready."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    tool("prometheus"),
                    f"--config.file={self.directory / 'prometheus.yml'}",
                    f"--storage.tsdb.path={self.directory / 'data'}",
                    f"--web.listen-address={self.url.removeprefix('http://')}",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=log,
            )
        wait_until(self._ready, timeout, "Prometheus to be ready", self.log)

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"prometheus exited with code {self.process.returncode}\n{self.log()}")
        try:
            return httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def log(self) -> str:
        """The end of Prometheus's own log."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "--- prometheus log ---\n" + "\n".join(text.splitlines()[-30:])

    def api(self, path: str, **params: str) -> Any:
        """The ``data`` of a successful answer of the HTTP API at ``/api/v1/<path>``."""
        answer = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=5).json()
        assert answer["status"] == "success", f"{path} {params}: {answer}"
        return answer["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The result of an instant query (a vector's samples, with their labels)."""
        data = self.api("query", query=expr)
        result: list[dict[str, Any]] = data["result"] if data["resultType"] == "vector" else [data["result"]]
        return result

    def alerts(self) -> Iterator[dict[str, Any]]:
        """The alerts now pending or firing."""
        yield from self.api("alerts")["alerts"]

    def stop(self) -> None:
        """Terminate it (SIGTERM, then SIGKILL) and reap it."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


#: What Grafana puts in place of the dashboard's variables, for a query run straight at Prometheus:
#: every job and instance ("All"), and windows that suit a scrape every second.
GRAFANA_VALUES = {"job": ".*", "instance": ".*", "__rate_interval": "30s", "__range": "5m"}


def substitute(expr: str) -> str:
    """``expr`` with the dashboard's variables replaced as Grafana would (an unknown one is an error)."""
    return re.sub(r"\$\{?(\w+)\}?", lambda match: GRAFANA_VALUES[match.group(1)], expr)


def dashboard() -> dict[str, Any]:
    """The committed dashboard."""
    content: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return content


def panels() -> list[dict[str, Any]]:
    """Every panel of the dashboard but the row headers."""
    return [item for item in dashboard()["panels"] if item["type"] != "row"]


def panel_queries() -> list[tuple[str, str]]:
    """(``panel title / refId``, PromQL) of every query of every panel."""
    return [
        (f"{item['title']} / {query['refId']}", query["expr"])
        for item in panels()
        for query in item["targets"]
    ]
