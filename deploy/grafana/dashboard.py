"""Build the Grafana dashboard of a neops_worker fleet: neops-worker-fleet.json, beside this file.

    python deploy/grafana/dashboard.py           # write neops-worker-fleet.json
    python deploy/grafana/dashboard.py --check   # exit 1 if the file is not what this script makes

The JSON is committed; edit this script, not the JSON, and run it (a test checks they agree). Every
panel reads a Prometheus data source chosen by the ``datasource`` variable; the worker panels are
filtered by the ``job`` and ``instance`` variables (the scrape job and target of the workers). The
backlog panels read ``neops_worker backlog``, one exporter per cluster, and are not filtered.
Standard library only.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OUTPUT = Path(__file__).with_name("neops-worker-fleet.json")
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
#: The label matchers of every worker series.
WORKERS = 'job=~"$job", instance=~"$instance"'

Panel = dict[str, Any]


@dataclass(frozen=True)
class Spec:
    """What a panel shows: its queries (PromQL, legend), unit, and where it turns red, if anywhere."""

    kind: str
    title: str
    description: str
    queries: tuple[tuple[str, str], ...]
    unit: str = "short"
    #: Red from this value up (a line on a graph) ...
    red_above: float | None = None
    #: ... or red below this value, green from it up.
    green_from: float | None = None


BUSY_RATIO = f"sum(neops_worker_slots_busy{{{WORKERS}}}) / sum(neops_worker_slots{{{WORKERS}}})"
JOB_RATE = f"rate(neops_worker_jobs_total{{{WORKERS}}}[$__rate_interval])"
FAILED_RATE = f'rate(neops_worker_jobs_total{{{WORKERS}, outcome!="success"}}[$__rate_interval])'
BUCKET_RATE = f"rate(neops_worker_job_duration_seconds_bucket{{{WORKERS}}}[$__rate_interval])"
RESTARTS = f"increase(neops_worker_job_process_restarts_total{{{WORKERS}}}[$__rate_interval])"


def failures(metric: str) -> str:
    """Failures per second of one of the worker's failure counters, over the fleet."""
    return f"sum(rate({metric}{{{WORKERS}}}[$__rate_interval]))"


#: The headline figures: slots, how busy, the engine, lost results.
FLEET = (
    Spec("stat", "Slots", "Job slots configured (WORKER_SLOTS of every worker).",
         ((f"sum(neops_worker_slots{{{WORKERS}}})", "slots"),)),
    Spec("stat", "Busy slots", "Slots running a job now.",
         ((f"sum(neops_worker_slots_busy{{{WORKERS}}})", "busy"),)),
    Spec("stat", "Registered slots", "Slots registered with the engine now (each is a worker there).",
         ((f"sum(neops_worker_slots_registered{{{WORKERS}}})", "registered"),)),
    Spec("stat", "Busy-slot ratio", "Busy slots / slots: near 100 % for long, jobs wait in the queue.",
         ((BUSY_RATIO, "busy"),), "percentunit"),
    Spec("stat", "Workers reaching the engine", "Share of workers whose heartbeats and polls it answers.",
         ((f"avg(neops_worker_engine_up{{{WORKERS}}})", "reaching"),), "percentunit", green_from=1),
    Spec("stat", "Lost results", "Job results that could not be delivered in the time range: the engine "
         "fails those jobs (alert NeopsWorkerResultsLost).",
         ((f"sum(increase(neops_worker_result_push_failures_total{{{WORKERS}}}[$__range]))", "lost"),),
         red_above=1),
)  # fmt: skip

#: Throughput, outcomes, durations, failures.
JOBS = (
    Spec("timeseries", "Busy-slot ratio", "Fleet-wide, and per worker.", (
        (BUSY_RATIO, "fleet"),
        (f"sum by (instance) (neops_worker_slots_busy{{{WORKERS}}})"
         f" / sum by (instance) (neops_worker_slots{{{WORKERS}}})", "{{instance}}"),
    ), "percentunit"),
    Spec("timeseries", "Jobs per second by outcome",
         "success, failed, error, exited, crashed, timeout, rejected.",
         ((f"sum by (outcome) ({JOB_RATE})", "{{outcome}}"),), "ops"),
    Spec("timeseries", "Job duration p50 / p95 by block", "From job start to its result, before the push.", (
        (f"histogram_quantile(0.5, sum by (function_block, le) ({BUCKET_RATE}))", "{{function_block}} p50"),
        (f"histogram_quantile(0.95, sum by (function_block, le) ({BUCKET_RATE}))", "{{function_block}} p95"),
    ), "s"),
    Spec("timeseries", "Failure ratio by block", "Jobs not ending in success / all jobs, per block.",
         ((f"(sum by (function_block) ({FAILED_RATE}) or 0 * sum by (function_block) ({JOB_RATE}))"
           f" / sum by (function_block) ({JOB_RATE})", "{{function_block}}"),), "percentunit"),
)  # fmt: skip

#: What goes wrong: restarts, the engine, heartbeats, failures.
TROUBLE = (
    Spec("timeseries", "Job process restarts by reason",
         "crash, timeout, sys_exit, template: unplanned; max_jobs, memory: recycling; abandoned: a drain "
         "gave up.", ((f"sum by (reason) ({RESTARTS})", "{{reason}}"),)),
    Spec("timeseries", "Seconds since the last accepted heartbeat",
         "Per worker and slot; the line is the alert's 60 s (3 x HEARTBEAT_INTERVAL).",
         ((f"max by (instance, slot) (neops_worker_seconds_since_last_heartbeat{{{WORKERS}}})",
           "{{instance}} slot {{slot}}"),), "s", 60),
    Spec("timeseries", "Engine reachability by worker", "1: the engine answers the worker; 0: it does not.",
         ((f"neops_worker_engine_up{{{WORKERS}}}", "{{instance}}"),)),
    Spec("timeseries", "Failures per second",
         "Polls and heartbeats that failed, job processes that could not be started, results lost.", (
        (failures("neops_worker_poll_failures_total"), "poll"),
        (failures("neops_worker_heartbeat_failures_total"), "heartbeat"),
        (failures("neops_worker_job_process_start_failures_total"), "job process start"),
        (failures("neops_worker_result_push_failures_total"), "result lost"),
    ), "ops"),
)  # fmt: skip

#: The engine's queue, from ``neops_worker backlog`` (one per cluster: not filtered by job or instance).
BACKLOG = (
    Spec("timeseries", "Jobs by block and state", "pending: waiting for a worker; claimed: held by one.",
         (("sum by (function_block, state) (neops_worker_backlog_jobs)", "{{function_block}} {{state}}"),)),
    Spec("timeseries", "Oldest pending job by block",
         "How long the oldest pending job of each block has waited; the line is the alert's 600 s.",
         (("max by (function_block) (neops_worker_backlog_oldest_pending_seconds)", "{{function_block}}"),),
         "s", 600),
    Spec("stat", "Exporter reading the engine", "1: the exporter's last read of the job listing worked.",
         (("min(neops_worker_backlog_up)", "up"),)),
)  # fmt: skip


def target(ref: str, expr: str, legend: str) -> dict[str, Any]:
    """One query of a panel."""
    return {"refId": ref, "datasource": DATASOURCE, "expr": expr, "legendFormat": legend, "range": True}


def panel(spec: Spec) -> Panel:
    """The panel ``spec`` describes; its place is set by ``layout``."""
    defaults: dict[str, Any] = {"unit": spec.unit}
    if spec.red_above is not None:
        steps = [{"color": "green", "value": None}, {"color": "red", "value": spec.red_above}]
        defaults["thresholds"] = {"mode": "absolute", "steps": steps}
        defaults["custom"] = {"thresholdsStyle": {"mode": "line"}}
    if spec.green_from is not None:
        steps = [{"color": "red", "value": None}, {"color": "green", "value": spec.green_from}]
        defaults["thresholds"] = {"mode": "absolute", "steps": steps}
    return {
        "type": spec.kind,
        "title": spec.title,
        "description": spec.description,
        "datasource": DATASOURCE,
        "targets": [target(chr(ord("A") + i), expr, legend) for i, (expr, legend) in enumerate(spec.queries)],
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": _options(spec.kind),
    }


def _options(kind: str) -> dict[str, Any]:
    if kind == "stat":
        return {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value",
            "graphMode": "area",
            "textMode": "auto",
        }
    return {
        "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
        "tooltip": {"mode": "multi", "sort": "desc"},
    }


def row(title: str) -> Panel:
    """A row header."""
    return {"type": "row", "title": title, "collapsed": False, "panels": []}


def layout(sections: list[tuple[str, tuple[Spec, ...], int, int]]) -> list[Panel]:
    """Rows of panels, ``width`` x ``height`` each, left to right, wrapping at Grafana's 24 columns."""
    placed: list[Panel] = []
    y = 0
    for title, specs, width, height in sections:
        placed.append({**row(title), "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}})
        y += 1
        for index, spec in enumerate(specs):
            x = index * width % 24
            if index and x == 0:
                y += height
            placed.append({**panel(spec), "gridPos": {"h": height, "w": width, "x": x, "y": y}})
        y += height
    return [{**item, "id": number} for number, item in enumerate(placed, start=1)]


def variable(name: str, label: str, metric: str) -> dict[str, Any]:
    """A multi-value template variable over the values of label ``name`` of ``metric``."""
    query = f"label_values({metric}, {name})"
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "definition": query,
        "query": query,
        "refresh": 2,
        "includeAll": True,
        "multi": True,
        "allValue": ".*",
        "current": {},
        "options": [],
        "sort": 1,
        "hide": 0,
    }


def templating() -> list[dict[str, Any]]:
    """The data source, then the workers' scrape job and instance."""
    source = {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
              "current": {}, "options": [], "refresh": 1, "hide": 0}  # fmt: skip
    return [
        source,
        variable("job", "Job", "neops_worker_engine_up"),
        variable("instance", "Instance", 'neops_worker_engine_up{job=~"$job"}'),
    ]


def dashboard() -> dict[str, Any]:
    """The whole dashboard."""
    sections = [
        ("Fleet", FLEET, 4, 4),
        ("Jobs", JOBS, 12, 8),
        ("Trouble", TROUBLE, 12, 8),
        ("Backlog (neops_worker backlog)", BACKLOG, 8, 8),
    ]
    return {
        "title": "neops worker fleet",
        "uid": "neops-worker-fleet",
        "description": "Slots, jobs, failures and backlog of neops_worker daemons (deploy/grafana).",
        "tags": ["neops", "neops-worker"],
        "editable": True,
        "graphTooltip": 1,
        "refresh": "30s",
        "schemaVersion": 39,
        "time": {"from": "now-6h", "to": "now"},
        "timezone": "",
        "annotations": {"list": []},
        "links": [],
        "templating": {"list": templating()},
        "panels": layout(sections),
    }


def render() -> str:
    """The dashboard as the committed file holds it."""
    return json.dumps(dashboard(), indent=2) + "\n"


def main(argv: list[str]) -> int:
    """Write the file, or with ``--check`` say whether it is up to date."""
    if argv == ["--check"]:
        if OUTPUT.exists() and OUTPUT.read_text() == render():
            return 0
        print(f"{OUTPUT.name} is out of date: run python deploy/grafana/dashboard.py", file=sys.stderr)
        return 1
    if argv:
        print(__doc__, file=sys.stderr)
        return 2
    OUTPUT.write_text(render())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
