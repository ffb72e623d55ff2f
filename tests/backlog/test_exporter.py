"""The read loop's bookkeeping: its series, the values kept through an outage, one line per outage."""

from __future__ import annotations

import asyncio
import logging
import socket
from datetime import UTC, datetime

import httpx
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from neops_worker.backlog.exporter import BacklogExporter
from neops_worker.backlog.listing import ListedJob, Listing, ListingError
from neops_worker.backlog.metrics import MetricsServer, backlog_registry
from neops_worker.errors import ConfigurationError

FB_A = "fb.acme/backup:1.0.0"
URL = "http://engine.test"
Series = dict[tuple[str, tuple[tuple[str, str], ...]], float]


class FakeSource:
    """The listing as the test scripts it: each read returns the next listing or raises the next error."""

    base_url = URL

    def __init__(self, *answers: Listing | Exception) -> None:
        self.answers = list(answers)

    async def read(self) -> Listing:
        """The next scripted answer."""
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def aclose(self) -> None:
        """Nothing to release."""


class Clock:
    """Wall clock and timer in one, moved by the test."""

    def __init__(self) -> None:
        self.now = datetime(2026, 6, 6, 10, 0, tzinfo=UTC).timestamp()

    def __call__(self) -> float:
        return self.now


def pending(count: int) -> Listing:
    """A listing of ``count`` pending jobs of FB_A, created at the clock's start."""
    jobs = [
        ListedJob.model_validate(
            {
                "functionBlockId": FB_A,
                "jobId": f"j{i}",
                "type": "execute",
                "createdAt": "2026-06-06T10:00:00Z",
            }
        )
        for i in range(count)
    ]
    return Listing({"pending": jobs, "claimed": []}, None)


def series(exporter: BacklogExporter) -> Series:
    """Every sample the exporter's registry serves, by name and labels."""
    text = generate_latest(backlog_registry(lambda: exporter.status)).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def exporter_over(source: FakeSource, clock: Clock) -> BacklogExporter:
    return BacklogExporter(source, 15, clock=clock, timer=clock)


def read(exporter: BacklogExporter, times: int = 1) -> list[bool]:
    """``times`` reads, one after the other; whether each succeeded."""

    async def reading() -> list[bool]:
        return [await exporter.read_once() for _ in range(times)]

    return asyncio.run(reading())


def test_before_the_first_read_only_up_and_failures_are_served() -> None:
    """No backlog series until a read succeeds: up is 0, failures 0, nothing else."""
    found = series(exporter_over(FakeSource(), Clock()))
    assert found == {
        ("neops_worker_backlog_up", ()): 0.0,
        ("neops_worker_backlog_read_failures_total", ()): 0.0,
    }


def test_a_read_publishes_the_backlog_series() -> None:
    """After a read: jobs per block and state, the oldest pending age, up 1, when and how long it took."""
    clock = Clock()
    exporter = exporter_over(FakeSource(pending(2)), clock)
    clock.now += 42
    assert read(exporter) == [True]
    found = series(exporter)
    assert found[("neops_worker_backlog_jobs", (("function_block", FB_A), ("state", "pending")))] == 2
    assert found[("neops_worker_backlog_jobs", (("function_block", FB_A), ("state", "claimed")))] == 0
    assert found[("neops_worker_backlog_oldest_pending_seconds", (("function_block", FB_A),))] == 42
    assert found[("neops_worker_backlog_up", ())] == 1
    assert found[("neops_worker_backlog_last_success_timestamp_seconds", ())] == clock.now
    assert found[("neops_worker_backlog_read_duration_seconds", ())] == 0


def test_an_outage_keeps_the_last_values_and_is_logged_once_each_way(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Failed reads: up 0, the last backlog kept, one warning as it starts, one line when it ends."""
    down = ListingError("/blackboard/jobs/page", "connection refused")
    source = FakeSource(pending(3), down, ListingError("/version", "connection refused"), down, pending(1))
    clock = Clock()
    exporter = exporter_over(source, clock)
    with caplog.at_level(logging.INFO, "neops_worker.backlog"):
        read(exporter)
        clock.now += 30
        assert read(exporter, 3) == [False, False, False]
        kept = series(exporter)
        clock.now += 15
        read(exporter)
    assert kept[("neops_worker_backlog_up", ())] == 0
    assert kept[("neops_worker_backlog_jobs", (("function_block", FB_A), ("state", "pending")))] == 3
    assert kept[("neops_worker_backlog_read_failures_total", ())] == 3
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"Cannot read the job listing of the engine at {URL}: GET /blackboard/jobs/page: connection "
        "refused. neops_worker_backlog_up is 0, the backlog series keep the values read 30 s ago; trying "
        "again every 15 s"
    ]
    assert caplog.records[-1].getMessage() == (
        f"Reading the job listing of the engine at {URL} again after 15 s and 3 failed read(s): "
        "1 pending and 0 claimed job(s) in 1 block(s)"
    )
    assert series(exporter)[("neops_worker_backlog_up", ())] == 1


def test_a_new_kind_of_failure_during_an_outage_is_said(caplog: pytest.LogCaptureFixture) -> None:
    """The engine back but refusing the token: a second line, with the new reason."""
    refused = ListingError("/blackboard/jobs/page", "HTTP 401 (Unauthorized): set BLACKBOARD_TOKEN")
    exporter = exporter_over(
        FakeSource(ListingError("/version", "connection refused"), refused, refused), Clock()
    )
    with caplog.at_level(logging.WARNING, "neops_worker.backlog"):
        read(exporter, 3)
    assert [r.getMessage() for r in caplog.records][1] == (
        f"Still cannot read the job listing of the engine at {URL}, now: "
        "GET /blackboard/jobs/page: HTTP 401 (Unauthorized): set BLACKBOARD_TOKEN"
    )
    assert len(caplog.records) == 2


def test_a_bug_in_a_read_fails_that_read_only(caplog: pytest.LogCaptureFixture) -> None:
    """An exception the listing does not foresee is a failed read, with its traceback, and reading goes on."""
    exporter = exporter_over(FakeSource(KeyError("items"), pending(1)), Clock())
    with caplog.at_level(logging.WARNING, "neops_worker.backlog"):
        assert read(exporter, 2) == [False, True]
    [warning] = caplog.records
    assert "KeyError: 'items'" in warning.getMessage()
    assert warning.exc_info is not None


def test_a_listing_cut_short_is_said_once(caplog: pytest.LogCaptureFixture) -> None:
    """Too long to read whole: one warning while it lasts, one line when it fits again."""
    cut = Listing({"pending": [], "claimed": []}, None, ("pending",))
    exporter = exporter_over(FakeSource(cut, cut, pending(1)), Clock())
    with caplog.at_level(logging.INFO, "neops_worker.backlog"):
        read(exporter, 3)
    messages = [r.getMessage() for r in caplog.records]
    assert sum("more pending jobs than one read takes (50 pages of 200)" in m for m in messages) == 1
    assert messages[-1] == "The engine's job listing is read whole again"


def test_the_server_serves_the_series_and_a_taken_port_is_one_line() -> None:
    """prometheus_client's server serves /metrics; a port in use is a ConfigurationError naming --port."""
    exporter = exporter_over(FakeSource(pending(1)), Clock())
    read(exporter)
    server = MetricsServer(backlog_registry(lambda: exporter.status), "127.0.0.1", 0)
    try:
        body = httpx.get(f"http://127.0.0.1:{server.port}/metrics", timeout=5).text
        assert f'neops_worker_backlog_jobs{{function_block="{FB_A}",state="pending"}} 1.0' in body
        with pytest.raises(ConfigurationError, match=rf"^--port {server.port}: cannot listen on 127.0.0.1:"):
            MetricsServer(backlog_registry(lambda: exporter.status), "127.0.0.1", server.port)
    finally:
        server.close()
    with socket.socket() as sock:  # the port is released (a listener on it would refuse even this)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", server.port))
        sock.listen()
