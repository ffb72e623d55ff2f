"""The engine of today (0.43.0b8) and of yesterday (0.42.1), against real worker processes.

One scenario per promise of serving 0.43 engines: rollback where it is safe and only there, a
remediation rollback on a fresh worker, id-less references, ``retryable`` by failure kind (and
never to a 0.42.1 engine), a result too large, a licence refusal, a job stopped before the engine's
stuck-job timeout, a poll that timed out. Every request the engine receives is checked against both
schema sets (less the fields gated for 0.42.1).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from neops_worker.devkit.local_engine import EngineOptions
from neops_worker.devkit.local_engine.models import FINAL_RUN_STATES
from neops_worker.devkit.local_engine.options import Contract
from neops_worker.errors import EXIT_LICENCE
from tests.contract import assert_sent_body
from tests.faults.faultkit import Call, Delay, engine_behind
from tests.integration.conftest import EngineUnderTest
from tests.integration.support import ROOT, Recorder, WorkerProcess, job, jobs, wait_until, workers

BLOCKS = Path(__file__).resolve().parent / "blocks"
PACKAGE = "fb.generations.tests"
UNDOABLE, FINAL, LOOKUP = f"{PACKAGE}/undoable:1.0.0", f"{PACKAGE}/final:1.0.0", f"{PACKAGE}/lookup:1.0.0"
HUGE, GROUPS, NAP = f"{PACKAGE}/huge:1.0.0", f"{PACKAGE}/groups:1.0.0", f"{PACKAGE}/nap:1.0.0"
#: The request body of each worker call, by the fault layer's endpoint kind.
SENT_DTOS = {
    "register": "RegisterWorkerDto",
    "block": "RegisterFunctionBlockDto",
    "poll": "JobPollDto",
    "result": "JobResultDto",
}


@contextmanager
def engine_of(contract: Contract = "0.43.0b8", **options: Any) -> Iterator[EngineUnderTest]:
    """A recording local engine speaking ``contract``; its requests are checked at the end."""
    settings = EngineOptions(
        heartbeat_interval_s=1.0, unreachable_after=3, offline_after=6, contract=contract, **options
    )
    with engine_behind(Recorder, settings) as (running, recorder):
        yield EngineUnderTest(running, recorder)
        assert_requests_valid(recorder)


def assert_requests_valid(recorder: Recorder) -> None:
    """Every body the worker sent validates against both generations' schemas."""
    for exchange in recorder.requests:
        dto = SENT_DTOS.get(exchange.kind)
        if dto is not None and exchange.method == "POST" and exchange.body:
            assert_sent_body(dto, exchange.json())
        if exchange.path == "/version/compatibility":
            assert_sent_body("VersionCompatibilityRequestDto", exchange.json())


def start(start_worker: Any, url: str, **settings: Any) -> WorkerProcess:
    """A worker on this module's blocks."""
    worker: WorkerProcess = start_worker(url, DIR_FUNCTION_BLOCKS=str(BLOCKS), **settings)
    worker.wait_for_log("Registered 6 function block(s)")
    return worker


def add(url: str, fb_id: str, **fields: Any) -> str:
    """Queue a job with any NewJob fields (parameters, context, runOn, entityId)."""
    body = {"functionBlockId": fb_id, **fields}
    response = httpx.post(f"{url}/_dev/jobs", json=body, timeout=10)
    response.raise_for_status()
    return str(response.json()["jobId"])


def pushed(url: str, job_id: str, timeout: float, worker: WorkerProcess) -> dict[str, Any]:
    """Wait until ``job_id`` has a result; the job with it."""
    wait_until(lambda: job(url, job_id)["status"] == "pushed", timeout, f"the result of job {job_id}", worker)
    return job(url, job_id)


def run_of(url: str, job_id: str, timeout: float = 30) -> list[dict[str, Any]]:
    """Wait until the run of ``job_id`` is over; every job of that run, in queue order."""
    run_id = job(url, job_id)["runId"]

    def over() -> bool:
        return job(url, job_id)["runState"] in FINAL_RUN_STATES and not any(
            row["status"] != "pushed" for row in jobs(url) if row["runId"] == run_id
        )

    wait_until(over, timeout, f"the end of the run of job {job_id}")
    return [row for row in jobs(url) if row["runId"] == run_id]


def sent(recorder: Recorder, kind: str) -> list[dict[str, Any]]:
    """The bodies of the worker's requests of one kind."""
    return [exchange.json() for exchange in recorder.requests if exchange.kind == kind]


def test_a_reversible_run_is_rolled_back_and_a_non_reversible_one_is_not(start_worker: Any) -> None:
    """A block with rollback registers reversible, its failed run FAILED_SAFE; one without, FAILED_UNSAFE."""
    with engine_of(max_retries=0) as engine:
        worker = start(start_worker, engine.url)
        flags = {body["name"]: body.get("reversible") for body in sent(engine.recorder, "block")}
        assert (flags["undoable"], flags["final"]) == (True, False)
        undone = run_of(engine.url, add(engine.url, UNDOABLE, parameters={"fail": True}))
        kept = run_of(engine.url, add(engine.url, FINAL, parameters={"fail": True}))
        assert [(row["type"], row["resultStatus"]) for row in undone] == [
            ("execute", "failed"),
            ("rollback", "success"),
        ]
        assert undone[1]["rollbackOf"] == undone[0]["jobId"]
        assert undone[0]["runState"] == "FAILED_SAFE"
        assert [(row["type"], row["runState"]) for row in kept] == [("execute", "FAILED_UNSAFE")]
        worker.signal()
        assert worker.wait() == 0


def test_a_remediation_rollback_runs_on_a_fresh_worker_under_a_new_id_twice(start_worker: Any) -> None:
    """Rollback jobs made later, on request, run from the job alone on a worker that never saw the run."""
    with engine_of(max_retries=0) as engine:
        first = start(start_worker, engine.url)
        failed = add(engine.url, UNDOABLE, parameters={"fail": True, "value": "v2"})
        run_of(engine.url, failed)
        first.signal()
        assert first.wait() == 0
        fresh = start(start_worker, engine.url)
        fresh_id = next(w["uuid"] for w in workers(engine.url) if w["state"] == "online")
        again = [
            httpx.post(f"{engine.url}/_dev/jobs/{failed}/rollback", timeout=10).json()["jobId"] for _ in "ab"
        ]
        for rollback_id in again:
            done = pushed(engine.url, rollback_id, 20, fresh)
            assert (done["type"], done["resultStatus"], done["workerId"]) == ("rollback", "success", fresh_id)
            assert done["result"]["result"]["message"] == "undid v2"
        assert len({failed, *again}) == 3
        fresh.signal()
        assert fresh.wait() == 0


def test_references_without_an_id_reach_the_block(start_worker: Any) -> None:
    """A 0.43 device whose groups and platform have no id parses; the block reads what is there."""
    device = {
        "id": 42,
        "hostname": "r1",
        "groups": [{"id": 7}, {"hostname": "unresolved"}],
        "platform": {"name": "ios"},
    }
    context = {"devices": [device], "deviceGroups": [], "interfaces": []}
    with engine_of() as engine:
        worker = start(start_worker, engine.url)
        job_id = add(engine.url, GROUPS, context=context, runOn="device", entityId=42)
        result = pushed(engine.url, job_id, 20, worker)["result"]["result"]
        assert result["success"], result
        assert result["data"] == {"group_ids": [7, None], "platform": "ios"}
        worker.signal()
        assert worker.wait() == 0


def test_retryable_false_only_where_every_attempt_would_fail(start_worker: Any) -> None:
    """Invalid parameters and a permanent failure are not retried; a plain failure of a pure block is."""
    with engine_of(max_retries=2) as engine:
        worker = start(start_worker, engine.url)
        invalid = run_of(engine.url, add(engine.url, LOOKUP, parameters={}))
        permanent = run_of(engine.url, add(engine.url, LOOKUP, parameters={"count": 1, "permanent": True}))
        transient = run_of(engine.url, add(engine.url, LOOKUP, parameters={"count": 1}))
        assert [row["retryable"] for row in invalid] == [False]
        assert "Invalid parameters" in (invalid[0]["resultMessage"] or "")
        assert [row["retryable"] for row in permanent] == [False]
        assert [(row["attempt"], row["retryable"]) for row in transient] == [(1, None), (2, None), (3, None)]
        worker.signal()
        assert worker.wait() == 0


def test_a_0_42_1_engine_is_sent_neither_reversible_nor_retryable(start_worker: Any) -> None:
    """The same failures against a 0.42.1 engine (which refuses unknown fields): every result is taken."""
    with engine_of("0.42.1") as engine:
        worker = start(start_worker, engine.url)
        assert "Engine version 0.42.1-local" in worker.log
        ids = [
            add(engine.url, LOOKUP, parameters={}),
            add(engine.url, LOOKUP, parameters={"count": 1, "permanent": True}),
        ]
        for job_id in ids:
            pushed(engine.url, job_id, 20, worker)
        assert all("reversible" not in body for body in sent(engine.recorder, "block"))
        assert all("retryable" not in body["result"] for body in sent(engine.recorder, "result"))
        assert [exchange.status for exchange in engine.recorder.requests if exchange.kind == "result"] == [
            201,
            201,
        ]
        worker.signal()
        assert worker.wait() == 0


#: The engine's body limit in the test of a result too large (its default is 50 MB), and the result's size
#: just over it: the same refusal, a tenth of the bytes to make, send and read.
BODY_LIMIT_MB, HUGE_MB = 5, 6


def test_a_result_over_the_body_limit_becomes_one_short_failed_result(start_worker: Any) -> None:
    """A result over the engine's body limit is refused (413); a short failed result follows; none claimed."""
    with engine_of(max_body_size=BODY_LIMIT_MB << 20) as engine:
        worker = start(start_worker, engine.url)
        job_id = add(engine.url, HUGE, parameters={"megabytes": HUGE_MB})
        pushed(engine.url, job_id, 60, worker)
        pushes = [e for e in engine.recorder.requests if e.kind == "result"]
        assert [e.status for e in pushes] == [413, 201]
        assert len(pushes[0].body) > HUGE_MB << 20
        short = pushes[1].json()["result"]
        assert (short["success"], short["retryable"]) == (False, False)
        assert re.search(r"too large for the engine: \d+ bytes", short["message"]), short
        assert not jobs(engine.url, "polled")
        assert max(len(line) for line in worker.output) < 1000  # the result never reaches the log
        worker.signal()
        assert worker.wait() == 0


def test_a_licence_refusal_exits_3_with_one_first_line_and_is_not_restarted(start_worker: Any) -> None:
    """Two block slots for six blocks: one clear first error line naming them, unregistered, exit 3."""
    with engine_of(max_function_blocks=2) as engine:
        worker = start_worker(engine.url, DIR_FUNCTION_BLOCKS=str(BLOCKS))
        assert worker.wait(30) == EXIT_LICENCE
        errors = [line for line in worker.output if "ERROR" in line]
        assert errors[0].count("License limit exceeded") == 1, errors
        assert "(2 of 2)" in errors[0]
        # Which two blocks the engine took first is a race of concurrent registrations: the other four.
        refused = re.search(r"refused: ([^;]+);", errors[0])
        assert refused is not None, errors[0]
        names = {fb_id.split("/")[1].split(":")[0] for fb_id in refused.group(1).split(", ")}
        assert len(names) == 4
        assert names < {"undoable", "final", "lookup", "huge", "groups", "nap"}, errors[0]
        assert [w["state"] for w in workers(engine.url)] == ["offline"]
    unit = (ROOT / "deploy" / "systemd" / "neops-worker.service").read_text()
    [prevent] = re.findall(r"^RestartPreventExitStatus=(.*)$", unit, re.M)
    assert str(EXIT_LICENCE) in prevent.split()


def test_a_job_is_stopped_in_time_to_report_before_the_stuck_job_timeout(start_worker: Any) -> None:
    """With JOB_TIMEOUT unset, a long job is killed within the engine's patience and its failure delivered."""
    # 4 s: the job is stopped after 3.6 s, a tenth of the timeout kept to deliver its failure.
    with engine_of(stuck_job_timeout_s=4, sweep_interval_s=0.2) as engine:
        worker = start(start_worker, engine.url, ENGINE_STUCK_JOB_TIMEOUT="4")
        job_id = add(engine.url, NAP, parameters={"seconds": 60})
        done = pushed(engine.url, job_id, 20, worker)
        assert not done["failedByEngine"], done
        assert done["resultStatus"] == "failed"
        assert "in time to report it before the engine's stuck-job timeout" in done["resultMessage"]
        worker.signal()
        assert worker.wait() == 0


def test_a_poll_that_timed_out_is_logged_as_a_possible_lost_claim(start_worker: Any) -> None:
    """The engine claims a job but answers the poll after POLL_TIMEOUT: the log says the job may be lost."""
    with engine_of() as engine:
        job_id = add(engine.url, LOOKUP, parameters={"count": 1, "permanent": True})

        def slow_first_poll(call: Call) -> Delay | None:
            # Held past POLL_TIMEOUT (1 s): the answer comes after the worker gave up on it.
            return Delay(2, after_engine=True) if call.kind == "poll" and call.seq == 1 else None

        engine.recorder.plan = slow_first_poll
        worker = start_worker(
            engine.url, DIR_FUNCTION_BLOCKS=str(BLOCKS), POLL_TIMEOUT="1", API_REQUEST_TIMEOUT="1"
        )
        worker.wait_for_log("may be claimed by this worker and lost to it", timeout=20)
        assert "POLL_TIMEOUT" in worker.log
        assert job(engine.url, job_id)["status"] == "polled"  # claimed by the poll whose answer never came
        worker.signal()
        assert worker.wait() == 0
