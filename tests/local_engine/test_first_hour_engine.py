"""``neops_worker engine`` says where its state lives and that it outlives the engine (``--fresh`` empties
it, ``--memory`` keeps none), names command-line options in its errors, and warns when a block comes back
under the same version with another schema."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from neops_worker.devkit.local_engine.process import READY_PATTERN
from neops_worker.engine.wire import RegisterFunctionBlock, RegisterWorker
from tests.integration.commands import CommandProcess, clean_environment
from tests.integration.support import WORKER_COMMAND, wait_until
from tests.local_engine.helpers import FB_A, run_command

KEPT = "kept across restarts (--fresh empties it, --memory keeps nothing)"


class Engine:
    """``neops_worker engine --port 0 ARGS`` as a real process, with ``XDG_DATA_HOME`` in a test directory."""

    def __init__(self, data_home: Path, *args: str) -> None:
        command = [*WORKER_COMMAND, "engine", "--port", "0", "--log-level", "warning", *args]
        env = clean_environment(XDG_DATA_HOME=data_home)
        self.process = CommandProcess(command, data_home, env)
        wait_until(lambda: self._url() is not None, 30, f"the ready line\n{self.process.log}")
        self.url = str(self._url())

    def _url(self) -> str | None:
        found = [match.group(1) for line in self.process.stdout if (match := READY_PATTERN.search(line))]
        return found[0] if found else None

    def line(self, start: str) -> str:
        """The first stdout line starting with ``start``."""
        return next(line for line in self.process.stdout if line.startswith(start))

    def stop(self) -> list[str]:
        """SIGTERM, as a supervisor stops it; its stdout once it has exited 0."""
        self.process.process.send_signal(signal.SIGTERM)
        assert self.process.wait(20) == 0, self.process.log
        return self.process.stdout


@pytest.fixture
def started() -> Iterator[list[Engine]]:
    """Engines a test starts; each is stopped at the end if the test did not."""
    engines: list[Engine] = []
    yield engines
    for engine in engines:
        engine.process.stop()


def start(started: list[Engine], data_home: Path, *args: str) -> Engine:
    """A new engine, stopped at the end of the test."""
    engine = Engine(data_home, *args)
    started.append(engine)
    return engine


def add_job(url: str) -> None:
    """Queue a job through the development route."""
    answer = httpx.post(f"{url}/_dev/jobs", json={"functionBlockId": FB_A.fb_id}, timeout=10)
    assert answer.status_code == 201, answer.text


def test_the_default_state_persists_and_the_engine_says_so(tmp_path: Path, started: list[Engine]) -> None:
    """Start: the database under the data directory, empty, kept; stop: it stays there; the next start
    says what earlier runs left in it."""
    db = tmp_path / "neops_worker" / "engine.sqlite3"
    first = start(started, tmp_path)
    assert first.line("State: ") == f"State: {db}, empty; {KEPT}."
    add_job(first.url)
    assert first.stop()[-1] == (
        f"neops_worker local engine stopped; its state stays in {db} for the next start (--fresh empties it)"
    )
    again = start(started, tmp_path)
    assert again.line("State: ") == (
        f"State: {db}, holding 1 job(s), 0 worker(s) and 0 function block(s) from earlier runs; {KEPT}."
    )
    assert len(httpx.get(f"{again.url}/_dev/jobs", timeout=10).json()) == 1


def test_fresh_empties_the_database_and_memory_keeps_nothing(tmp_path: Path, started: list[Engine]) -> None:
    """--fresh starts with no jobs from earlier runs; --memory writes no file and says all is lost."""
    add_job(start(started, tmp_path).url)
    started[0].stop()
    fresh = start(started, tmp_path, "--fresh")
    assert fresh.line("State: ").endswith(f", emptied (--fresh); {KEPT}.")
    assert httpx.get(f"{fresh.url}/_dev/jobs", timeout=10).json() == []
    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    memory = start(started, elsewhere, "--memory")
    assert memory.line("State: ").startswith("State: in memory only (--memory): nothing is written")
    assert memory.stop()[-1].endswith("its state was in memory only and is gone")
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--unreachable-after", "5", "--offline-after", "2"],
            "engine options: --offline-after (2) must be more than --unreachable-after (5)",
        ),
        (["--heartbeat-interval", "0"], "engine options: --heartbeat-interval must be positive, not 0"),
        (["--max-body-size", "lots"], "engine options: --max-body-size: size 'lots' must be a number"),
        (["--memory", "--db", "x.sqlite3"], "--memory keeps the state in memory, --db x.sqlite3 in a file"),
    ],
)
def test_option_errors_name_the_options(tmp_path: Path, args: list[str], message: str) -> None:
    """An impossible option is one line naming the command-line options (not Python names), exit 2."""
    done = run_command("engine", "--port", "0", *args, cwd=tmp_path)
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"neops_worker: error: {message}")
    assert "_after" not in line
    assert "_interval" not in line


def test_a_block_registered_again_with_another_schema_is_warned_about(
    tmp_path: Path, started: list[Engine]
) -> None:
    """Same block and version, another parameter schema: the engine keeps the first and its log says so."""
    engine = start(started, tmp_path, "--memory")
    http = httpx.Client(base_url=engine.url, timeout=10)
    worker_id = http.post("/workers/register", json=RegisterWorker(version="1.0.0").to_wire()).json()["uuid"]
    for schema in ({"type": "object"}, {"type": "object"}, {"type": "object", "required": ["x"]}):
        body = RegisterFunctionBlock(
            **FB_A.model_dump(), worker_id=worker_id, description="d", fb_type="none",
            parameter_json_schema=schema, result_data_json_schema={"type": "object"},
        )  # fmt: skip
        assert http.post("/function-blocks/register", json=body.to_wire()).status_code in (201, 409)
    http.close()
    engine.process.wait_for_log("registered again")
    assert engine.process.count("registered again") == 1
    assert (
        f"Function block {FB_A.fb_id} registered again (worker {worker_id}) with another parameterJsonSchema "
        "than its first registration: the engine keeps the first one" in engine.process.log
    )
