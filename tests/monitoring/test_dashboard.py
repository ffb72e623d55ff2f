"""The Grafana dashboard: the committed JSON is what its script makes, on a data source variable."""

from __future__ import annotations

import subprocess
import sys

from tests.monitoring.support import (
    BACKLOG_METRICS,
    DASHBOARD_SCRIPT,
    WORKER_METRICS,
    dashboard,
    metric_names,
    panel_queries,
    panels,
    substitute,
)

#: What an operator of a fleet looks at first (the issue's list), by the metric that shows it.
MUST_SHOW = {
    "neops_worker_slots",
    "neops_worker_slots_busy",
    "neops_worker_jobs_total",
    "neops_worker_job_duration_seconds",
    "neops_worker_job_process_restarts_total",
    "neops_worker_engine_up",
    "neops_worker_seconds_since_last_heartbeat",
    "neops_worker_result_push_failures_total",
    "neops_worker_backlog_jobs",
    "neops_worker_backlog_oldest_pending_seconds",
}


def test_the_committed_dashboard_is_what_its_script_makes() -> None:
    """deploy/grafana/neops-worker-fleet.json is up to date with deploy/grafana/dashboard.py."""
    done = subprocess.run(
        [sys.executable, str(DASHBOARD_SCRIPT), "--check"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_every_panel_reads_the_data_source_the_variable_names() -> None:
    """A ``datasource`` variable of Prometheus data sources; every panel and query uses it."""
    variables = {item["name"]: item for item in dashboard()["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    used = [item["datasource"] for item in panels()]
    used += [query["datasource"] for item in panels() for query in item["targets"]]
    used += [item["datasource"] for item in variables.values() if item["type"] == "query"]
    assert {source["uid"] for source in used} == {"${datasource}"}
    assert {source["type"] for source in used} == {"prometheus"}


def test_panels_have_unique_ids_and_do_not_overlap() -> None:
    """Grafana needs distinct ids; overlapping grid positions would hide a panel."""
    items = dashboard()["panels"]
    assert len({item["id"] for item in items}) == len(items)
    cells = [
        (item["gridPos"]["x"] + dx, item["gridPos"]["y"] + dy)
        for item in items
        for dx in range(item["gridPos"]["w"])
        for dy in range(item["gridPos"]["h"])
    ]
    assert len(cells) == len(set(cells))
    assert max(x for x, _y in cells) < 24


def test_the_panels_show_what_a_fleet_needs_from_metrics_that_exist() -> None:
    """Slots, jobs, durations, restarts, engine, heartbeats, lost results, backlog; no unknown metric."""
    read = {name for _title, expr in panel_queries() for name in metric_names(expr)}
    assert read - WORKER_METRICS - BACKLOG_METRICS == set()
    assert MUST_SHOW - read == set()


def test_every_variable_in_a_query_has_a_value_for_the_tests() -> None:
    """The end-to-end test can run every query: each ``$variable`` is one it knows."""
    for _title, expr in panel_queries():
        assert "$" not in substitute(expr)
