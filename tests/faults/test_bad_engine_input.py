"""Bad input from the engine: malformed answers and job lists, wrong fields, huge and odd payloads.

Each case must end in a clear log line or a failed job result naming the problem, with no job lost
or run twice, and the worker still working afterwards.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.faults.conftest import FAST, FaultyEngine
from tests.faults.faultkit import Action, Answer, Call, FaultLayer, Rewrite, engine_behind
from tests.faults.helpers import add_jobs, assert_exactly_once, job_rows, starts, wait_all_pushed
from tests.integration.support import EXAMPLES_REGISTERED, WorkerProcess, job

Corruption = Callable[[dict[str, Any]], dict[str, Any]]


def _set(**fields: Any) -> Corruption:
    return lambda entry: {**entry, **fields}


def _drop(name: str) -> Corruption:
    return lambda entry: {k: v for k, v in entry.items() if k != name}


#: case -> (how the engine's job entry is spoiled, what the failed result must say; None: no result).
CASES: dict[str, tuple[Corruption, str | None]] = {
    "no-type": (_drop("type"), "Malformed job definition: type: Field required"),
    "no-block-id": (_drop("functionBlockId"), "Malformed job definition: functionBlockId: Field required"),
    "parameters-text": (
        _set(parameters="oops"),
        "Malformed job definition: parameters: Input should be a valid dictionary",
    ),
    "context-list": (_set(context=[]), "Malformed job definition: context: Input should be"),
    "entity-id-text": (
        _set(entityId="abc"),
        "Malformed job definition: entityId: Input should be a valid integer",
    ),
    "unknown-type": (
        _set(type="frobnicate"),
        "Unknown job type 'frobnicate' (expected one of execute, acquire, rollback)",
    ),
    "unknown-block": (
        _set(functionBlockId="fb.examples.neops/nope:9.9.9"),
        "Function block fb.examples.neops/nope:9.9.9 is not available on this worker",
    ),
    "wrong-parameter-type": (
        _set(parameters={"message": 5}),
        "Invalid parameters for fb.examples.neops/echo:1.0.0: message: Input should be a valid string",
    ),
}


def _spoil_by_message(body: bytes) -> bytes:
    """Spoil each job whose ``message`` parameter names a case."""
    entries = json.loads(body)
    spoiled = []
    for entry in entries:
        case = entry.get("parameters", {}).get("message")
        spoiled.append(CASES[case][0](entry) if case in CASES else entry)
    return json.dumps(spoiled).encode()


@pytest.fixture(scope="module")
def spoiled_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One worker served one spoiled job per case; the job details and the worker's log afterwards."""
    with engine_behind(FaultLayer, FAST) as (engine, layer):
        ids = {case: add_jobs(engine.url, 1, message=case)[0] for case in CASES}
        layer.plan = lambda call: (
            Rewrite(answer=lambda status, body: (status, _spoil_by_message(body)))
            if call.kind == "poll"
            else None
        )
        worker = WorkerProcess(engine.url, tmp_path_factory.mktemp("spoiled"))
        try:
            wait_all_pushed(engine.url, len(CASES), 30, worker)
            worker.signal(signal.SIGTERM)
            code = worker.wait(20)
            yield {
                "ids": ids,
                "jobs": {case: job(engine.url, job_id) for case, job_id in ids.items()},
                "worker": worker,
                "code": code,
            }
        finally:
            worker.stop()


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_spoiled_job_gets_a_failed_result_naming_the_problem(
    spoiled_run: dict[str, Any], case: str
) -> None:
    """A job entry with a missing or wrongly typed field, an unknown type or block: one failed result."""
    found = spoiled_run["jobs"][case]
    expected = CASES[case][1]
    assert found["resultStatus"] == "failed", found
    assert expected is not None
    assert found["resultMessage"].startswith(expected), found["resultMessage"]
    assert found["claims"] == 1
    assert found["result"]["result"]["success"] is False


def test_spoiled_jobs_leave_the_worker_working(spoiled_run: dict[str, Any]) -> None:
    """After every spoiled job the worker is still polling, none was run, and it stops cleanly (exit 0)."""
    worker: WorkerProcess = spoiled_run["worker"]
    assert spoiled_run["code"] == 0, worker.log
    assert "Traceback" not in worker.log
    ran = starts(worker)
    assert all(ran[job_id] <= 1 for job_id in spoiled_run["ids"].values())


def test_a_malformed_entry_beside_good_ones(faulty: FaultyEngine, start_worker: Any) -> None:
    """Good jobs beside a spoiled one run; the spoiled one fails naming its fields; id-less ones logged."""
    # One poll is widened to limit 3 and its answer gets entries without a usable jobId appended.
    good = add_jobs(faulty.url, 1, message="first")
    bad = add_jobs(faulty.url, 1, message="spoil-me")[0]
    good += add_jobs(faulty.url, 1, message="last")

    def spoil(status: int, body: bytes) -> tuple[int, bytes]:
        entries = json.loads(body)
        for entry in entries:
            if entry["parameters"]["message"] == "spoil-me":
                entry["context"]["devices"] = "none"
                entry["runOn"] = 42
        return status, json.dumps([*entries, {"no": "id"}, 42, {"jobId": ""}, None]).encode()

    def batch_of_three(call: Call) -> Action | None:
        if call.kind == "poll" and call.seq == 1:
            return Rewrite(request=lambda body: body.replace(b'"limit":1', b'"limit":3'), answer=spoil)
        return None

    faulty.layer.plan = batch_of_three
    worker = start_worker(faulty.url)
    wait_all_pushed(faulty.url, 3, 20, worker)
    assert_exactly_once(faulty.url, good, worker)
    spoiled = job(faulty.url, bad)
    assert spoiled["resultStatus"] == "failed"
    assert spoiled["claims"] == 1
    assert spoiled["resultMessage"].startswith("Malformed job definition: ")
    assert "context.devices: Input should be a valid list" in spoiled["resultMessage"]
    assert "runOn: Input should be a valid string" in spoiled["resultMessage"]
    assert worker.log.count("The engine sent a job without a usable jobId") == 4
    worker.signal(signal.SIGTERM)
    assert worker.wait(20) == 0


def test_unusable_poll_answers_are_logged_and_polling_goes_on(
    faulty: FaultyEngine, start_worker: Any
) -> None:
    """Broken JSON, non-UTF-8, an object, an HTML 502 as poll answers: one log line each, work goes on."""
    # The answers are given instead of the engine's, so nothing was claimed and nothing can be lost.
    answers = [
        Answer(200, b'[{"jobId": "j1", "functionBlockId": '),
        Answer(200, b'[{"jobId": "\xff\xfe\xfd", "type": "execute"}]'),
        Answer(201, {"jobs": []}),
        Answer(502, b"<html><body>Bad Gateway</body></html>", "text/html"),
    ]
    faulty.layer.plan = lambda call: (
        answers[call.seq - 1] if call.kind == "poll" and call.seq <= len(answers) else None
    )
    job_ids = add_jobs(faulty.url, 1)
    worker = start_worker(faulty.url)
    wait_all_pushed(faulty.url, 1, 20, worker)
    assert_exactly_once(faulty.url, job_ids, worker)
    failed = [line for line in worker.output if "Poll failed" in line]
    assert 'answer is not JSON: \'[{"jobId": "j1", "functionBlockId": \'' in failed[0]
    assert "answer is not JSON" in failed[1]
    assert "expected a JSON array, got dict" in failed[2]
    assert "HTTP 502: Bad Gateway" in failed[3]  # an HTML page is cut to its text in a log line
    assert "<html>" not in failed[3]
    assert "Traceback" not in worker.log
    worker.signal(signal.SIGTERM)
    assert worker.wait(20) == 0


def test_a_lone_surrogate_in_a_job_is_delivered(faulty: FaultyEngine, start_worker: Any) -> None:
    """A lone surrogate in a job's input is sent back as U+FFFD instead of killing the poll loop."""
    # "\ud800" is legal JSON but cannot be encoded as UTF-8: httpx raised, the loop died, exit 1.

    def surrogate(status: int, body: bytes) -> tuple[int, bytes]:
        return status, body.replace(b'"message":"x"', b'"message":"a\\ud800b"')

    faulty.layer.plan = lambda call: Rewrite(answer=surrogate) if call.kind == "poll" else None
    job_ids = add_jobs(faulty.url, 1, message="x")
    later = add_jobs(faulty.url, 1, message="after")
    worker = start_worker(faulty.url)
    wait_all_pushed(faulty.url, 2, 20, worker)
    assert_exactly_once(faulty.url, job_ids + later, worker)
    assert job(faulty.url, job_ids[0])["result"]["result"]["data"] == {"echoed": "a\ufffdb"}
    assert "Traceback" not in worker.log
    worker.signal(signal.SIGTERM)
    assert worker.wait(20) == 0


def test_ten_megabyte_parameters(faulty: FaultyEngine, start_worker: Any) -> None:
    """A 10 MB parameter payload is claimed, run and its 10 MB result delivered, once."""
    big = "x" * (10 * 1024 * 1024)
    job_ids = add_jobs(faulty.url, 1, message=big)
    worker = start_worker(faulty.url)
    wait_all_pushed(faulty.url, 1, 60, worker)
    assert_exactly_once(faulty.url, job_ids, worker)
    assert job(faulty.url, job_ids[0])["result"]["result"]["data"]["echoed"] == big
    (push,) = faulty.layer.of_kind("result")
    assert len(push.body) > 10 * 1024 * 1024
    worker.signal(signal.SIGTERM)
    assert worker.wait(20) == 0


def test_a_job_id_that_is_not_a_string_cannot_be_answered(faulty: FaultyEngine, start_worker: Any) -> None:
    """A job whose jobId is a number cannot be answered: it is logged and stays claimed (unrun)."""

    def numeric_id(status: int, body: bytes) -> tuple[int, bytes]:
        entries = json.loads(body)
        for entry in entries:
            entry["jobId"] = 12345
        return status, json.dumps(entries).encode()

    faulty.layer.plan = lambda call: (
        Rewrite(answer=numeric_id) if call.kind == "poll" and call.seq == 1 else None
    )
    stuck = add_jobs(faulty.url, 1, message="first")[0]
    worker = start_worker(faulty.url)
    worker.wait_for_log("The engine sent a job without a usable jobId")
    after = add_jobs(faulty.url, 1, message="after")
    wait_all_pushed(faulty.url, 1, 20, worker)
    assert_exactly_once(faulty.url, after, worker)
    row = job_rows(faulty.url)[stuck]
    assert (row["status"], row["claims"], row["resultStatus"]) == ("polled", 1, None)
    worker.signal(signal.SIGTERM)
    assert worker.wait(20) == 0


@pytest.mark.parametrize(
    ("path", "answer", "code", "expected"),
    [
        pytest.param(
            "/version/compatibility",
            {"compatible": "maybe"},
            0,
            "Version check not answered (version check: unexpected answer: compatible: ",
            id="version-check",
        ),
        pytest.param(
            "/workers/register",
            {"uuid": 5},
            1,
            "worker registration: unexpected answer: uuid: Input should be a valid string",
            id="registration",
        ),
    ],
)
def test_malformed_answers_at_start(
    faulty: FaultyEngine, start_worker: Any, path: str, answer: Any, code: int, expected: str
) -> None:
    """A misshapen version check answer is ignored; a misshapen registration answer stops: no traceback."""
    # The contract says to carry on after any version-check error; a registration without a usable
    # uuid is permanent (exit 1) with one line naming the field.
    faulty.layer.plan = lambda call: Answer(201, answer) if call.path == path else None
    worker = start_worker(faulty.url)
    if code == 0:
        worker.wait_for_log(EXAMPLES_REGISTERED)
        worker.signal(signal.SIGTERM)
    assert worker.wait(20) == code, worker.log
    assert expected in worker.log
    assert "Traceback" not in worker.log
