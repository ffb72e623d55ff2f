"""The shipped Prometheus rules: valid for promtool, every rule unit-tested, every alert documented."""

from __future__ import annotations

import re
import subprocess
from typing import Any

import pytest

from tests.monitoring.support import (
    BACKLOG_METRICS,
    ROOT,
    RULE_TESTS,
    RULES,
    RUNBOOK,
    WORKER_METRICS,
    load_yaml,
    metric_names,
    rules,
    tool,
)

ALERTS = [rule["alert"] for rule in rules("alert")]
RECORDS = [rule["record"] for rule in rules("record")]


def promtool(*arguments: str) -> None:
    """Run promtool; fail with its whole output if it does not exit 0."""
    done = subprocess.run(
        [tool("promtool"), *arguments], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, (
        f"promtool {' '.join(arguments)} exited {done.returncode}:\n{done.stdout}{done.stderr}"
    )


def test_promtool_accepts_the_rules_file() -> None:
    """``promtool check rules`` finds the file valid (syntax, PromQL, templates)."""
    promtool("check", "rules", str(RULES))


def test_the_rules_pass_their_promtool_unit_tests() -> None:
    """``promtool test rules`` passes every test file in deploy/prometheus/tests."""
    assert RULE_TESTS, "no promtool test files in deploy/prometheus/tests"
    promtool("test", "rules", *map(str, RULE_TESTS))


def alert_cases() -> list[dict[str, Any]]:
    """Every ``alert_rule_test`` case of the promtool test files."""
    return [
        case
        for path in RULE_TESTS
        for test in load_yaml(path)["tests"]
        for case in test.get("alert_rule_test", [])
    ]


@pytest.mark.parametrize("alert", ALERTS)
def test_every_alert_has_a_firing_and_a_silent_promtool_case(alert: str) -> None:
    """Each alert has a promtool case where it fires and one where it must not."""
    cases = [case for case in alert_cases() if case["alertname"] == alert]
    assert any(case.get("exp_alerts") for case in cases), f"{alert}: no promtool case where it fires"
    assert any(not case.get("exp_alerts") for case in cases), f"{alert}: no promtool case where it is silent"


def test_every_recording_rule_has_a_promtool_case() -> None:
    """Each recorded series is checked by a ``promql_expr_test``."""
    tested = {
        case["expr"]
        for path in RULE_TESTS
        for test in load_yaml(path)["tests"]
        for case in test.get("promql_expr_test", [])
    }
    assert RECORDS
    assert [record for record in RECORDS if record not in tested] == []


def runbook_anchors() -> set[str]:
    """The anchors of RUNBOOK.md's ``##`` headings, as GitHub and GitLab render them."""
    headings = re.findall(r"^## (.+)$", RUNBOOK.read_text(), flags=re.MULTILINE)
    return {re.sub(r"[^a-z0-9 -]", "", heading.lower()).replace(" ", "-") for heading in headings}


@pytest.mark.parametrize("rule", rules("alert"), ids=ALERTS)
def test_every_alert_says_what_happened_and_points_to_its_runbook(rule: dict[str, Any]) -> None:
    """Summary, description, a severity, and a runbook_url whose section exists in RUNBOOK.md."""
    annotations = rule["annotations"]
    assert annotations["summary"]
    assert annotations["description"]
    assert rule["labels"]["severity"] in {"warning", "critical"}
    path, _, anchor = annotations["runbook_url"].partition("#")
    assert path == "deploy/prometheus/RUNBOOK.md"
    assert anchor == rule["alert"].lower()
    assert anchor in runbook_anchors(), f"RUNBOOK.md has no section for {rule['alert']}"


def test_the_rules_read_only_metrics_the_worker_and_the_exporter_expose() -> None:
    """Every neops_worker metric a rule reads is one of the worker's or the backlog exporter's."""
    read = {name for rule in rules("alert") + rules("record") for name in metric_names(rule["expr"])}
    assert read - WORKER_METRICS - BACKLOG_METRICS == set()
    assert "neops_worker_engine_up" in read


def test_the_operations_guide_lists_every_alert_and_recording_rule() -> None:
    """docs/operations.md's "Alerts and dashboards" names each alert and each recorded series."""
    guide = (ROOT / "docs" / "operations.md").read_text()
    section = guide.split("\n## Alerts and dashboards\n", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`([\w:]+)`", section))
    assert set(ALERTS) - named == set()
    assert {
        record for record in RECORDS if not record.endswith(("p95_rate5m", "p99_rate5m"))
    } - named == set()
