"""The health listener and metrics on a real worker's event loop, and the ``neops_worker health`` probe."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from neops_worker.errors import ConfigurationError
from neops_worker.runtime import compose, extra_observers
from neops_worker.worker.events import WorkerState
from neops_worker.worker.observers.health import HealthServer, listener_url, liveness, probe, readiness
from neops_worker.worker.observers.metrics import WorkerMetrics
from tests.ops.fake_engine import FakeEngine
from tests.ops.harness import ECHO, FAIL, SLEEP, RunningWorker, fast_settings, running_worker, wait_until

CLI = str(Path(sys.executable).parent / "neops_worker")


async def get(url: str) -> tuple[bool, str]:
    """Probe ``url`` off the event loop (the listener runs on it)."""
    return await asyncio.to_thread(probe, url, 2.0)


async def raw_request(port: int, data: bytes) -> bytes:
    """Send raw bytes to the listener and read the whole answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    return answer


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus text output, None if absent."""
    wanted = ",".join(f'{key}="{value}"' for key, value in labels.items())
    prefix = f"{name}{{{wanted}}} " if labels else f"{name} "
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix) :])
    return None


def value(run: RunningWorker, name: str, **labels: str) -> float:
    """One sample of the worker's private registry, read through prometheus-client's API."""
    return run.metrics.registry.get_sample_value(name, labels) or 0.0


def test_listener_is_off_without_health_port() -> None:
    """No HEALTH_PORT: no metrics observer and no listener."""
    settings = fast_settings()
    assert extra_observers(settings) == []
    composition = compose(settings)
    assert composition.extensions == []
    assert composition.worker.observers.observers == []


def test_each_metrics_observer_has_its_own_registry() -> None:
    """Two workers' metrics coexist in one process and count separately."""
    first, second = WorkerMetrics(), WorkerMetrics()
    first.slot(1).poll_failed()
    assert sample(first.render()[0].decode(), "neops_worker_poll_failures_total", slot="1") == 1
    assert sample(second.render()[0].decode(), "neops_worker_poll_failures_total", slot="1") == 0


def test_slot_series_are_labelled_and_the_fleet_gauges_count_slots() -> None:
    """Per-slot series carry ``slot``; the slot gauges count configured, busy and registered slots."""
    metrics = WorkerMetrics(slots=3)
    metrics.registered_slots = lambda: 2
    metrics.slot(2).job_started("j", "p/b:1.0.0", "execute")
    metrics.slot(3).job_process_start_failed("the template process is not running")
    metrics.slot(3).job_process_restarted("crash")
    text = metrics.render()[0].decode()
    assert sample(text, "neops_worker_slots") == 3
    assert sample(text, "neops_worker_slots_busy") == 1
    assert sample(text, "neops_worker_slots_registered") == 2
    assert [sample(text, "neops_worker_job_running", slot=s) for s in "123"] == [0, 1, 0]
    assert sample(text, "neops_worker_job_process_start_failures_total", slot="3") == 1
    assert sample(text, "neops_worker_job_process_restarts_total", reason="crash", slot="3") == 1
    assert sample(text, "neops_worker_poll_failures_total", slot="1") == 0


async def test_readiness_and_liveness_follow_the_lifecycle() -> None:
    """Starting: live, not ready; registered: both; draining: live, not ready."""
    engine = FakeEngine(registration_gate=asyncio.Event())
    async with running_worker(fast_settings(health_port=0), engine) as run:
        live, ready = run.base_url + "/livez", run.base_url + "/readyz"
        await wait_until(lambda: engine.authorization != [], what="the version check")
        assert await get(live) == (True, "ok: starting")
        assert await get(ready) == (False, "not registered yet (starting)")
        assert engine.registration_gate is not None
        engine.registration_gate.set()
        await wait_until(
            lambda: run.worker.worker_id is not None and engine.blocks != [], what="registration"
        )
        await wait_until(lambda: run.worker.state.value == "idle", what="idle")
        assert await get(ready) == (True, f"ok: idle as {run.worker.worker_id}")
        ok, reason = await get(live)
        assert ok
        assert reason.startswith("ok: idle, last heartbeat accepted")
        job_id = engine.add_job(SLEEP, {"seconds": 1.0})
        await wait_until(lambda: run.worker.current_job == job_id, what="the job to start")
        run.worker.request_stop("test")
        assert await get(ready) == (False, "draining: shutting down")
        assert (await get(live))[0] is True
        await wait_until(lambda: job_id in engine.results, what="the drained job's result")


async def test_an_engine_outage_makes_the_worker_unready_never_dead() -> None:
    """Without engine answers /livez stays 200 (a restart would lose a held result); /readyz says so."""
    engine = FakeEngine()
    async with running_worker(fast_settings(health_port=0), engine) as run:
        await wait_until(lambda: run.worker.state.value == "idle", what="idle")
        engine.ping_status = engine.poll_status = 503
        await wait_until(lambda: run.metrics.seconds_since_engine_answer() > 0.35, what="engine silence")
        assert (await get(run.base_url + "/livez"))[0]
        ok, reason = await get(run.base_url + "/readyz")
        assert not ok
        assert reason.startswith("the engine has not answered for")
        assert reason.endswith("(limit 0.3 s)")
        assert sample(run.metrics.render()[0].decode(), "neops_worker_engine_up") == 0
        engine.ping_status = engine.poll_status = 200
        await wait_until(lambda: run.metrics.seconds_since_engine_answer() < 0.2, what="engine answers")
        assert (await get(run.base_url + "/readyz"))[0]
        assert sample(run.metrics.render()[0].decode(), "neops_worker_engine_up") == 1


class _Wedged:
    """A runner that says it is wedged."""

    def wedged(self) -> str:
        return "job process 42 does not go away after SIGKILL"


def test_livez_fails_only_when_the_runner_is_wedged() -> None:
    """A wedged job runner is the one reason (with the loop itself) for /livez to fail."""
    metrics = WorkerMetrics()
    worker: Any = SimpleNamespace(runner=_Wedged(), state=WorkerState.BUSY)
    slots: Any = SimpleNamespace(workers=[worker])
    assert liveness(slots, metrics) == (False, "wedged: job process 42 does not go away after SIGKILL")
    worker.runner = SimpleNamespace(wedged=lambda: None)
    assert liveness(slots, metrics) == (True, "ok: busy")


def test_readyz_of_several_slots_is_ready_while_one_slot_is_registered() -> None:
    """Ready with one registered slot of three (the line counts them); no slot, or a drain: not ready."""
    metrics = WorkerMetrics(slots=3)
    metrics.engine_reachable(True)
    workers: list[Any] = [
        SimpleNamespace(state=WorkerState.STARTING, worker_id=None, stopping=False) for _ in range(3)
    ]
    slots: Any = SimpleNamespace(workers=workers, stopping=False, registered=lambda: 0)
    assert readiness(slots, metrics, 60) == (False, "not registered yet (starting)")
    slots.registered = lambda: 1
    assert readiness(slots, metrics, 60) == (True, "ok: 1 of 3 slots registered")
    slots.stopping = True
    assert readiness(slots, metrics, 60) == (False, "draining: shutting down")


def test_livez_of_several_slots_fails_only_when_every_slot_is_wedged() -> None:
    """One wedged slot of three: live, and the line names it; all three: not live."""
    metrics = WorkerMetrics(slots=3)
    free = SimpleNamespace(wedged=lambda: None)
    workers: list[Any] = [SimpleNamespace(runner=free, state=WorkerState.IDLE) for _ in range(3)]
    workers[1].runner = _Wedged()
    slots: Any = SimpleNamespace(workers=workers)
    ok, reason = liveness(slots, metrics)
    assert ok
    assert (
        reason == "ok: 2 of 3 slots can work (slot 2 wedged: job process 42 does not go away after SIGKILL)"
    )
    for worker in workers:
        worker.runner = _Wedged()
    ok, reason = liveness(slots, metrics)
    assert not ok
    assert reason.startswith("wedged: every slot: slot 1: job process 42")


async def test_metrics_after_real_jobs() -> None:
    """Jobs by block/type/outcome, durations, failure counters and gauges, as scraped."""
    engine = FakeEngine()
    async with running_worker(fast_settings(health_port=0), engine) as run:
        done = [engine.add_job(ECHO, {"message": "hi"}), engine.add_job(FAIL, {"mode": "raise"})]
        await wait_until(lambda: all(j in engine.results for j in done), what="two results")
        engine.result_status = 400
        rejected = engine.add_job(ECHO, {"message": "lost"})
        await wait_until(
            lambda: value(run, "neops_worker_result_push_failures_total") == 1, what="push failure"
        )
        engine.result_status = 200
        engine.poll_status = 503
        await wait_until(
            lambda: value(run, "neops_worker_poll_failures_total", slot="1") >= 1, what="poll failure"
        )
        engine.poll_status = 200
        running = engine.add_job(SLEEP, {"seconds": 0.5})
        await wait_until(lambda: run.worker.current_job == running, what="a running job")
        text = await asyncio.to_thread(scrape, run.base_url)
        await wait_until(lambda: running in engine.results, what="the sleep result")
    assert rejected not in engine.results
    echo = {"function_block": ECHO, "job_type": "execute"}
    assert sample(text, "neops_worker_jobs_total", **echo, outcome="success") == 2
    assert (
        sample(text, "neops_worker_jobs_total", function_block=FAIL, job_type="execute", outcome="error") == 1
    )
    assert sample(text, "neops_worker_job_duration_seconds_count", **echo) == 2
    assert sample(text, "neops_worker_result_push_failures_total") == 1
    assert (sample(text, "neops_worker_poll_failures_total", slot="1") or 0) >= 1
    assert sample(text, "neops_worker_heartbeat_failures_total", slot="1") == 0
    assert sample(text, "neops_worker_job_running", slot="1") == 1
    assert 0 <= (sample(text, "neops_worker_seconds_since_last_heartbeat", slot="1") or -1) < 1


def scrape(base_url: str) -> str:
    """GET /metrics and check its content type."""
    import urllib.request

    with urllib.request.urlopen(base_url + "/metrics", timeout=2) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        return str(response.read().decode())


async def test_heartbeat_failures_are_counted() -> None:
    """Each refused ping counts once in neops_worker_heartbeat_failures_total."""
    engine = FakeEngine(ping_status=503)
    async with running_worker(fast_settings(health_port=0), engine) as run:
        await wait_until(
            lambda: value(run, "neops_worker_heartbeat_failures_total", slot="1") >= 2, what="two failures"
        )
        text = run.metrics.render()[0].decode()
    assert (sample(text, "neops_worker_heartbeat_failures_total", slot="1") or 0) >= 2


async def test_listener_answers_unknown_paths_methods_and_garbage() -> None:
    """404 for other paths, 405 for POST, headers only for HEAD, and garbage is dropped quietly."""
    engine = FakeEngine()
    async with running_worker(fast_settings(health_port=0), engine) as run:
        port = run.health.port
        assert (await raw_request(port, b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")).startswith(
            b"HTTP/1.1 404 "
        )
        assert (await raw_request(port, b"POST /livez HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 405 ")
        head = await raw_request(port, b"HEAD /livez?x=1 HTTP/1.1\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert head.endswith(b"\r\n\r\n")
        assert await raw_request(port, b"hello\r\n\r\n") == b""
        assert (await get(run.base_url + "/livez"))[0]


async def test_livez_needs_the_event_loop() -> None:
    """While the worker's loop is blocked the listener cannot answer, so the probe fails."""
    engine = FakeEngine()
    async with running_worker(fast_settings(health_port=0), engine) as run:
        url = run.base_url + "/livez"
        answers: list[tuple[bool, str]] = []
        prober = threading.Thread(target=lambda: answers.append(probe(url, 0.3)))
        prober.start()
        prober.join()  # blocks the loop on purpose, as a frozen worker would, until the probe gave up
        [(ok, reason)] = answers
        assert not ok
        assert "timed out" in reason
        assert (await get(url))[0]


async def test_busy_port_is_a_configuration_error() -> None:
    """A port in use fails the start with a message naming HEALTH_PORT."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = HealthServer(None, WorkerMetrics(), "127.0.0.1", port, 1.0)  # type: ignore[arg-type]
        with pytest.raises(ConfigurationError, match=f"HEALTH_PORT: cannot listen on 127.0.0.1:{port}"):
            await server.__aenter__()


@pytest.mark.parametrize(
    ("host", "url"),
    [("127.0.0.1", "http://127.0.0.1:9"), ("0.0.0.0", "http://127.0.0.1:9"), ("::", "http://[::1]:9")],
)
def test_listener_url_reaches_wildcard_binds_locally(host: str, url: str) -> None:
    """A wildcard bind is probed on the loopback address."""
    assert listener_url(host, 9) == url


def run_health(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``neops_worker health`` in a subprocess."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("HEALTH_", "LOG_"))}
    return subprocess.run(
        [CLI, "health", *args],
        check=False,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=30,
    )


async def test_health_command_exit_codes() -> None:
    """Exit 0 with the reason when live/ready; 1 with ``unhealthy: ...`` otherwise."""
    engine = FakeEngine()
    async with running_worker(fast_settings(health_port=0), engine) as run:
        await wait_until(lambda: run.worker.state.value == "idle", what="idle")
        port = str(run.health.port)
        live = await asyncio.to_thread(run_health, env={"HEALTH_PORT": port})
        ready = await asyncio.to_thread(run_health, "--ready", "--url", run.base_url)
        job_id = engine.add_job(SLEEP, {"seconds": 2})
        await wait_until(lambda: run.worker.current_job == job_id, what="a job in hand")
        run.worker.request_stop("test")
        draining = await asyncio.to_thread(run_health, "--ready", env={"HEALTH_PORT": port})
    assert (live.returncode, live.stdout.startswith("ok: idle, last heartbeat")) == (0, True)
    assert (ready.returncode, ready.stdout) == (0, f"ok: idle as {run.worker.worker_id}\n")
    assert (draining.returncode, draining.stdout) == (1, "unhealthy: draining: shutting down\n")


def test_health_command_without_listener_is_unhealthy(tmp_path: Path) -> None:
    """No HEALTH_PORT, a closed port, or a bad setting: exit 1 (never 2) with one line."""
    unset = run_health()
    assert (unset.returncode, unset.stdout) == (
        1,
        "unhealthy: configuration: the health listener is off (HEALTH_PORT is unset); pass --url\n",
    )
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    refused = run_health("--url", f"http://127.0.0.1:{port}")
    assert refused.returncode == 1
    assert refused.stdout.startswith(f"unhealthy: no answer from http://127.0.0.1:{port}/livez: ")
    assert "refused" in refused.stdout
    bad = run_health(env={"HEALTH_PORT": "seventy"})
    assert bad.returncode == 1
    assert bad.stdout.startswith("unhealthy: configuration: HEALTH_PORT: ")
