"""The real ``neops_worker backlog`` against engines on 127.0.0.1: the local engine, and a token check.

The exporter is a subprocess reading the engine every 0.2 s; its /metrics is scraped over HTTP as
Prometheus would, and it is stopped with a real SIGTERM.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from neops_worker.devkit.local_engine import EngineOptions, LocalEngine
from tests.backlog.fakes import job, page
from tests.integration.commands import CommandProcess, clean_environment
from tests.integration.support import WORKER_COMMAND, wait_until
from tests.local_engine.helpers import FB_A, FB_B, Api

Labels = tuple[tuple[str, str], ...]
TOKEN = "tok-7d3f0c21e9"


class Metrics:
    """The exporter's /metrics, scraped afresh at each question."""

    def __init__(self, url: str) -> None:
        self.url = url

    def scrape(self) -> dict[tuple[str, Labels], float]:
        """Every sample, by name and labels."""
        text = httpx.get(self.url, timeout=5).text
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    def backlog(self, fb: str) -> tuple[float | None, float | None]:
        """(pending, claimed) of a block, from one scrape; None where absent."""
        found = self.scrape()
        pending, claimed = (
            (("function_block", fb), ("state", "pending")),
            (("function_block", fb), ("state", "claimed")),
        )
        return found.get(("neops_worker_backlog_jobs", pending)), found.get(
            ("neops_worker_backlog_jobs", claimed)
        )

    def age(self, fb: str) -> float:
        """``neops_worker_backlog_oldest_pending_seconds`` of a block."""
        return self.scrape()[("neops_worker_backlog_oldest_pending_seconds", (("function_block", fb),))]

    def up(self) -> float | None:
        """``neops_worker_backlog_up``."""
        return self.scrape().get(("neops_worker_backlog_up", ()))


def start_exporter(url: str, cwd: Path) -> tuple[CommandProcess, Metrics]:
    """The real exporter reading ``url`` every 0.2 s on a free loopback port, and its /metrics."""
    argv = [*WORKER_COMMAND, "backlog", "--host", "127.0.0.1", "--port", "0", "--interval", "0.2"]
    exporter = CommandProcess(argv, cwd, clean_environment(URL_BLACKBOARD=url))
    exporter.wait_for_log("Backlog exporter serving", timeout=20)
    match = re.search(r"serving (http://127\.0\.0\.1:\d+/metrics)", exporter.log)
    assert match, exporter.log
    return exporter, Metrics(match.group(1))


def test_the_series_follow_the_local_engine_through_claims_and_an_outage(tmp_path: Path) -> None:
    """Submitted jobs show as pending, claimed ones move to claimed, the oldest ages; an engine that stops
    sets up to 0 with the values kept, and once back the series follow again; SIGTERM exits 0."""
    database = tmp_path / "engine.sqlite3"
    engine = LocalEngine(database).start()
    exporter: CommandProcess | None = None
    api = Api.connect(engine.url)
    try:
        worker_id = api.worker_with(FB_A, FB_B)
        for fb in (FB_A, FB_A, FB_A, FB_B):
            api.add_job(fb)
        exporter, metrics = start_exporter(engine.url, tmp_path)
        wait_until(lambda: metrics.backlog(FB_A.fb_id) == (3, 0), 10, "3 pending jobs of alpha")
        assert metrics.backlog(FB_B.fb_id) == (1, 0)
        assert metrics.up() == 1

        assert len(api.poll(worker_id, [FB_A], limit=2)) == 2
        wait_until(lambda: metrics.backlog(FB_A.fb_id) == (1, 2), 10, "2 of alpha claimed")
        first = metrics.age(FB_A.fb_id)
        wait_until(lambda: metrics.age(FB_A.fb_id) >= first + 0.5, 10, "the oldest job of alpha ageing")

        port = engine.port
        engine.stop()
        wait_until(lambda: metrics.up() == 0, 10, "backlog_up 0 with the engine stopped")
        assert metrics.backlog(FB_A.fb_id) == (1, 2)  # kept as last read

        engine = LocalEngine(database, port=port).start()
        api.http.close()
        api = Api.connect(engine.url)
        api.add_job(FB_B)
        wait_until(lambda: metrics.up() == 1 and metrics.backlog(FB_B.fb_id) == (2, 0), 10, "the engine back")

        stop_after_one_outage(exporter)
    finally:
        api.http.close()
        engine.stop()
        if exporter is not None:
            exporter.stop()


def stop_after_one_outage(exporter: CommandProcess) -> None:
    """SIGTERM: exit 0, the last line says so; the outage was logged once as it began, once as it ended."""
    exporter.process.send_signal(signal.SIGTERM)
    assert exporter.wait(10) == 0
    assert exporter.count("Cannot read the job listing of the engine") == 1
    assert exporter.count("Reading the job listing of the engine at") == 1
    assert exporter.stderr[-1].endswith("Backlog exporter stopped")


def test_a_0_42_1_engine_is_read_by_status(tmp_path: Path) -> None:
    """Against the local engine speaking 0.42.1, one read (``--once``) counts its jobs by status."""
    with LocalEngine(options=EngineOptions(contract="0.42.1")) as engine:
        api = Api.connect(engine.url, "0.42.1")
        worker_id = api.worker_with(FB_A)
        for _ in range(2):
            api.add_job(FB_A)
        api.poll(worker_id, [FB_A], limit=1)
        api.http.close()
        done = run_once(tmp_path, URL_BLACKBOARD=engine.url)
    assert done.returncode == 0, done.stderr
    assert f'neops_worker_backlog_jobs{{function_block="{FB_A.fb_id}",state="pending"}} 1.0' in done.stdout
    assert f'neops_worker_backlog_jobs{{function_block="{FB_A.fb_id}",state="claimed"}} 1.0' in done.stdout
    assert "reading its backlog with GET /blackboard/jobs?status=" in done.stderr


# --- the bearer token, over real HTTP ---------------------------------------------------------


class TokenEngine(ThreadingHTTPServer):
    """An engine on 127.0.0.1 that wants ``Bearer TOKEN`` on its listing and records every request."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _TokenHandler)
        #: (path, Authorization header) of each request, in order.
        self.seen: list[tuple[str, str | None]] = []

    @property
    def url(self) -> str:
        """The base URL."""
        return f"http://127.0.0.1:{self.server_address[1]}"


class _TokenHandler(BaseHTTPRequestHandler):
    server: TokenEngine

    def do_GET(self) -> None:
        """/version for anyone; the page route with the token only."""
        authorization = self.headers.get("Authorization")
        self.server.seen.append((self.path, authorization))
        if self.path == "/version":
            self._answer(200, {"version": "0.43.0-beta.8"})
        elif authorization != f"Bearer {TOKEN}":
            self._answer(401, {"statusCode": 401, "message": "Unauthorized"})
        elif "state%5B%5D=pending" in self.path:
            self._answer(200, page([job(FB_A.fb_id, "p1"), job(FB_A.fb_id, "p2")]))
        else:
            self._answer(200, page([]))

    def _answer(self, status: int, body: Any) -> None:
        content = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def log_message(self, *_args: Any) -> None:
        """Quiet: the test reads ``seen``."""


@pytest.fixture
def token_engine() -> Iterator[TokenEngine]:
    """A ``TokenEngine`` serving from a thread."""
    server = TokenEngine()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def run_once(cwd: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    """``neops_worker backlog --once`` with ``settings`` and nothing of this machine's configuration."""
    env = clean_environment(**settings)
    return subprocess.run(
        [*WORKER_COMMAND, "backlog", "--once"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_every_request_carries_the_token_of_the_token_file(token_engine: TokenEngine, tmp_path: Path) -> None:
    """With BLACKBOARD_TOKEN_FILE, each request sends ``Authorization: Bearer <token>``, never shown."""
    (tmp_path / "token").write_text(f"{TOKEN}\n")
    done = run_once(tmp_path, URL_BLACKBOARD=token_engine.url, BLACKBOARD_TOKEN_FILE=str(tmp_path / "token"))
    assert done.returncode == 0, done.stderr
    assert f'neops_worker_backlog_jobs{{function_block="{FB_A.fb_id}",state="pending"}} 2.0' in done.stdout
    assert [path.split("?")[0] for path, _ in token_engine.seen] == [
        "/version",
        *["/blackboard/jobs/page"] * 2,
    ]
    assert {authorization for _, authorization in token_engine.seen} == {f"Bearer {TOKEN}"}
    assert TOKEN not in done.stdout + done.stderr


def test_a_refused_token_names_blackboard_token_and_exits_1(
    token_engine: TokenEngine, tmp_path: Path
) -> None:
    """A token the engine refuses: one line naming BLACKBOARD_TOKEN, backlog_up 0 on stdout, exit 1."""
    done = run_once(tmp_path, URL_BLACKBOARD=token_engine.url, BLACKBOARD_TOKEN="tok-wrong-55aa")
    assert done.returncode == 1
    assert "neops_worker_backlog_up 0.0" in done.stdout
    [line] = [line for line in done.stderr.splitlines() if "Cannot read" in line]
    assert "HTTP 401 (Unauthorized): the engine refused the token of BLACKBOARD_TOKEN" in line
    assert "tok-wrong-55aa" not in done.stderr
