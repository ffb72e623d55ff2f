"""``neops_worker jobs`` speaks one vocabulary: ``--status`` takes the states its table shows (the engine's
``polled``/``pushed`` as aliases), and the table says when each job was created and finished."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from neops_worker.devkit.local_client._render import ago
from neops_worker.devkit.local_engine import LocalEngine
from tests.local_engine.helpers import FB_A, FB_B, Api, FakeClock, run_command


def jobs_command(engine: LocalEngine, tmp_path: Path, *args: str) -> tuple[int, str, str]:
    """``neops_worker jobs ARGS --url URL`` as a real command: exit code, stdout, stderr."""
    done = run_command("jobs", *args, "--url", engine.url, cwd=tmp_path)
    return done.returncode, done.stdout, done.stderr


def rows(table: str) -> dict[str, str]:
    """The table's job lines by short job id."""
    return {line.split()[1]: line for line in table.splitlines() if line.startswith("│")}


def cells(table: str) -> dict[str, dict[str, str]]:
    """The table's cells by short job id, then by column heading (one line per job)."""
    header = next(line for line in table.splitlines() if line.startswith("┃"))
    names = [name.strip() for name in header.strip("┃").split("┃")]
    return {
        short: dict(zip(names, (cell.strip() for cell in line.strip("│").split("│")), strict=True))
        for short, line in rows(table).items()
    }


@pytest.fixture
def four(api: Api, clock: FakeClock) -> dict[str, str]:
    """One job in each state: pending (nobody serves its block), success, failed, running; then two
    minutes pass, the worker pinging all along (it must not expire holding the running job)."""
    worker_id = api.worker_with(FB_A)
    made = {"pending": api.add_job(FB_B)}
    for state in ("success", "failed"):
        api.add_job()
        made[state] = api.run_once(worker_id, success=state == "success")
    made["running"] = api.add_job()
    [_claimed] = api.poll(worker_id)
    for _ in range(3):
        clock.advance(40)
        assert api.http.post(f"/workers/{worker_id}/ping").status_code == 200
    return made


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("pending", {"pending"}),
        ("running", {"running"}),
        ("success", {"success"}),
        ("failed", {"failed"}),
        ("polled", {"running"}),
        ("pushed", {"success", "failed"}),
    ],
)
def test_status_takes_the_states_the_table_shows(
    engine: LocalEngine, four: dict[str, str], tmp_path: Path, given: str, expected: set[str]
) -> None:
    """`jobs --status running|success|failed|pending` lists those rows; polled and pushed still work."""
    code, out, err = jobs_command(engine, tmp_path, "--status", given)
    assert code == 0, err
    assert set(rows(out)) == {four[state][:8] for state in expected}
    for state in expected:
        assert f" {state} " in rows(out)[four[state][:8]]
    listed = json.loads(jobs_command(engine, tmp_path, "--status", given, "--json")[1])
    assert {row["jobId"] for row in listed} == {four[state] for state in expected}


def test_an_unknown_status_names_the_choices(engine: LocalEngine, tmp_path: Path) -> None:
    """A state the table never shows is refused (exit 2), listing the words it takes."""
    code, _, err = jobs_command(engine, tmp_path, "--status", "done")
    assert code == 2
    for word in ("'pending'", "'running'", "'success'", "'failed'", "'polled'", "'pushed'"):
        assert word in err


def test_the_table_says_when_each_job_was_created_and_finished(
    engine: LocalEngine, four: dict[str, str], tmp_path: Path
) -> None:
    """Created and Finished columns: '2 min ago' by the engine's clock; '-' for a job not finished."""
    code, out, err = jobs_command(engine, tmp_path)
    assert code == 0, err
    shown = cells(out)
    for state in ("success", "failed"):
        assert (shown[four[state][:8]]["Created"], shown[four[state][:8]]["Finished"]) == ("2 min ago",) * 2
    for state in ("pending", "running"):
        assert (shown[four[state][:8]]["Created"], shown[four[state][:8]]["Finished"]) == ("2 min ago", "-")
    [row] = json.loads(jobs_command(engine, tmp_path, "--status", "success", "--json")[1])
    assert (row["createdAgeS"], row["finishedAgeS"]) == (120.0, 120.0)


@pytest.mark.parametrize(
    ("age", "shown"),
    [(None, "-"), (0.04, "0.0 s ago"), (42.4, "42 s ago"), (125, "2 min ago"), (7300, "2 h ago"),
     (3 * 86400, "3 days ago")],
)  # fmt: skip
def test_ages_read_as_people_say_them(age: float | None, shown: str) -> None:
    """Seconds under a minute, then minutes, hours and days; '-' for what has not happened."""
    assert ago(age) == shown
